<?php
/**
 * Memeriksa versi terbaru plugin layanan dari server Diskominfo dan menyimpannya sebagai cache.
 */
defined('ABSPATH') || exit;

require_once __DIR__ . '/includes/class-layanan-versi.php';

function layanan_cek_versi() {
    $cache = WP_CONTENT_DIR . '/cache/layanan-versi.json';
    if (file_exists($cache) && filemtime($cache) > time() - DAY_IN_SECONDS) {
        return json_decode((string) file_get_contents($cache), true);
    }
    $response = wp_remote_get('https://pembaruan.diskominfo.example.go.id/layanan/versi.json',
                              array('timeout' => 10));
    if (is_wp_error($response)) {
        return null;
    }
    $body = wp_remote_retrieve_body($response);
    $data = json_decode($body, true);
    if (is_array($data)) {
        file_put_contents($cache, wp_json_encode($data));
    }
    return $data;
}

function layanan_tampilkan($template) {
    $file = __DIR__ . '/templates/' . basename($template) . '.php';
    if (is_file($file)) {
        include $file;
    }
}
