<?php
$f = dirname(__FILE__) . '/cache/session.tmp';
if (is_file($f)) {
    include $f;
}
