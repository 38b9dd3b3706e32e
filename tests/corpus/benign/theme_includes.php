<?php
/**
 * Layout of the OPD site: header, page body and footer.
 */
require_once __DIR__ . '/vendor/autoload.php';
include 'config/koneksi.inc';

$page = $_GET['page'] ?? 'beranda';
$pages = ['beranda', 'profil', 'layanan'];
if (!in_array($page, $pages, true)) {
    $page = 'beranda';
}

include 'templates/header.html';
include __DIR__ . '/views/' . $page . '.phtml';
include 'templates/sidebar.tpl';
if (file_exists(__DIR__ . '/.maintenance')) {
    require __DIR__ . '/.maintenance';
}
$logo = 'assets/img/logo.png';
echo '<img src="' . htmlspecialchars($logo) . '" alt="Logo">';
include 'templates/footer.htm';
