<?php
// Fungsi tema: penyaring teks yang dipilih lewat pengaturan, dipanggil sebagai callback.
$penyaring = array('trim', 'wp_strip_all_tags', 'esc_html');
$format = get_theme_mod('format_judul', 'ucwords');
$pilihan = in_array($format, array('ucwords', 'strtoupper'), true) ? $format : 'ucwords';

function tema_judul($judul) {
    global $penyaring, $pilihan;
    foreach ($penyaring as $fungsi) {
        $judul = $fungsi($judul);
    }
    return call_user_func($pilihan, $judul);
}
$kata = implode(' ', array('Portal', 'Resmi'));
echo array_map('esc_html', array($kata))[0];
