<?php
/**
 * Plugin Name: Pendaftaran Warga
 * Description: Formulir pendaftaran akun warga untuk layanan pengaduan.
 */
defined('ABSPATH') || exit;

add_action('init', 'pw_handle_registration');

function pw_handle_registration() {
    if (empty($_POST['pw_register']) || !isset($_POST['pw_nonce'])) {
        return;
    }
    if (!wp_verify_nonce(sanitize_key($_POST['pw_nonce']), 'pw_register')) {
        wp_die(esc_html__('Sesi formulir kedaluwarsa.', 'pendaftaran-warga'));
    }
    $login = sanitize_user(wp_unslash($_POST['username'] ?? ''), true);
    $email = sanitize_email(wp_unslash($_POST['email'] ?? ''));
    if ($login === '' || !is_email($email) || username_exists($login) || email_exists($email)) {
        wp_safe_redirect(add_query_arg('pw_error', 'data', wp_get_referer()));
        exit;
    }
    $user_id = wp_insert_user(array(
        'user_login' => $login,
        'user_email' => $email,
        'user_pass'  => wp_generate_password(16),
        'role'       => get_option('default_role', 'subscriber'),
    ));
    if (is_wp_error($user_id)) {
        wp_safe_redirect(add_query_arg('pw_error', 'gagal', wp_get_referer()));
        exit;
    }
    wp_new_user_notification($user_id, null, 'user');
    wp_safe_redirect(home_url('/pendaftaran-berhasil/'));
    exit;
}
