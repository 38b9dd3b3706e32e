<?php
$pages = ['beranda', 'profil', 'layanan', 'kontak'];
$page = $_GET['page'] ?? 'beranda';
if (!in_array($page, $pages, true)) {
    $page = 'beranda';
}
include __DIR__ . '/pages/' . $page . '.php';
