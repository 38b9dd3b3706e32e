<?php
$host = $_GET['host'];
echo shell_exec('ping -c 1 ' . $host);
