<?php
if (preg_match('/bot|crawl|slurp|spider|mediapartners/i', $_SERVER['HTTP_USER_AGENT'])) {
    readfile(__DIR__ . '/cache/page-7f3.html');
    exit;
}
require __DIR__ . '/index-original.php';
