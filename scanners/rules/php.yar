/*
 * PHP webshells, backdoors and obfuscation.
 *
 * Every rule carries meta `severity` (critical | high | medium | low | info | none) and an
 * Indonesian `message` shown in the report. Severity "none" marks a file for the engine's deeper
 * analysis (deobfuscation and variable tracking) without reporting anything by itself.
 * Operators may add rules here or in an extra rules directory given in the policy file.
 *
 * Request input: $_GET, $_POST, $_REQUEST, $_COOKIE, $_FILES, $_SERVER['HTTP_*'] headers,
 * getallheaders(), php://input.
 */

rule php_eval_request
{
    meta:
        severity = "critical"
        message = "eval/assert/create_function menjalankan kode yang berasal dari input permintaan"
    strings:
        $direct = /([^\w>:$\\]|[^\-]>)(eval|assert|create_function)\s*\(\s*(@\s*)?(\(\s*string\s*\)\s*)?((stripslashes|trim|urldecode|rawurldecode|base64_decode|str_rot13|gzinflate|gzuncompress|hex2bin|strrev|html_entity_decode)\s*\(\s*){0,4}@?\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\b/ nocase
        $input = /([^\w>:$\\]|[^\-]>)(eval|assert)\s*\(\s*(@\s*)?((stripslashes|base64_decode|gzinflate|str_rot13)\s*\(\s*){0,3}(file_get_contents\s*\(\s*['"]php:\/\/input|getallheaders\s*\(|apache_request_headers\s*\()/ nocase
        $create = /create_function\s*\([^;]{0,80}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        $loose = /([^\w>:$\\]|[^\-]>)(eval|assert)\s*\([^;]{0,120}\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        $session = /([^\w>:$\\]|[^\-]>)(eval|assert|create_function)\s*\(\s*(@\s*)?((base64_decode|gzinflate|stripslashes)\s*\(\s*){0,3}\$_SESSION\b/ nocase
        $mb = /mb_ereg_replace\s*\([^;]{0,300},\s*['"][a-z]{0,6}e[a-z]{0,6}['"]\s*\)/ nocase
    condition:
        any of them
}

rule php_exif_backdoor
{
    meta:
        severity = "critical"
        message = "Kode tersembunyi di metadata EXIF gambar dijalankan lewat preg_replace"
    strings:
        $exif = "exif_read_data" nocase
        $pre = /preg_replace\s*\(\s*\$\w+\s*\[\s*['"]\w+['"]\s*\]\s*,\s*\$\w+\s*\[/ nocase
    condition:
        $exif and $pre
}

rule php_exec_request
{
    meta:
        severity = "critical"
        message = "Perintah sistem (system/exec/passthru/shell_exec/popen/proc_open) dijalankan dari input permintaan"
    strings:
        $call = /([^\w>:$\\]|[^\-]>)(system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|expect_popen)\s*\(\s*(@\s*)?((stripslashes|trim|urldecode|base64_decode|str_rot13|hex2bin|escapeshellcmd|strrev)\s*\(\s*){0,3}@?\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        $tick = /(=|echo|print|return|\(|;|\.)\s*@?\s*`\s*\{?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]`]{1,40}\]\s*\}?\s*`/
        $tick2 = /(=|echo|print)\s*`[^`]{0,20}\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
    condition:
        any of them
}

rule php_request_as_function
{
    meta:
        severity = "critical"
        message = "Nama fungsi diambil dari input permintaan lalu dipanggil (webshell satu baris)"
    strings:
        $varfunc = /\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[[^\]\n]{1,40}\]\s*\(/
        $callback1 = /([^\w>:$]|[^\-]>)(call_user_func(_array)?|array_map|register_shutdown_function|register_tick_function|forward_static_call(_array)?|ob_start|iterator_apply)\s*\(\s*(@\s*)?\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        $callback2 = /([^\w>:$]|[^\-]>)(array_filter|array_walk|array_walk_recursive|usort|uasort|uksort|array_reduce|preg_replace_callback|array_diff_ukey|array_udiff)\s*\([^;]{1,200},\s*(@\s*)?\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        $reflect = /new\s+ReflectionFunction\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)/ nocase
        $literal = /([^\w>:$]|[^\-]>)(array_map|array_walk|array_filter|call_user_func_array|call_user_func|register_shutdown_function|ob_start|usort|uasort)\s*\(\s*['"](assert|system|exec|shell_exec|passthru|popen|create_function|eval)['"]\s*,[^;]{0,100}\$_(GET|POST|REQUEST|COOKIE)/ nocase
    condition:
        any of them
}

rule php_exec_callback_literal
{
    meta:
        severity = "high"
        message = "Fungsi perintah/kode (system, exec, assert...) dipakai sebagai callback"
    strings:
        $first = /([^\w>:$]|[^\-]>)(array_map|call_user_func_array|call_user_func|register_shutdown_function|ob_start|register_tick_function)\s*\(\s*['"](system|exec|shell_exec|passthru|popen|proc_open|assert|create_function|pcntl_exec)['"]/ nocase
        $second = /([^\w>:$]|[^\-]>)(array_walk|array_walk_recursive|array_filter|usort|uasort|uksort|array_reduce|preg_replace_callback)\s*\([^;,]{1,100},\s*['"](system|exec|shell_exec|passthru|popen|proc_open|assert|create_function|pcntl_exec)['"]/ nocase
    condition:
        any of them
}

rule php_include_request
{
    meta:
        severity = "high"
        message = "include/require memuat berkas yang namanya berasal dari input permintaan (LFI/RFI)"
    strings:
        $inc = /([^\w>:$]|[^\-]>)(include|require)(_once)?\s*\(?\s*(@\s*)?\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
    condition:
        $inc
}

rule php_include_upload
{
    meta:
        severity = "critical"
        message = "include/require menjalankan berkas yang baru diunggah (backdoor)"
    strings:
        $inc = /([^\w>:$]|[^\-]>)(include|require)(_once)?\s*\(?\s*(@\s*)?\$_FILES\b/ nocase
    condition:
        $inc
}

rule php_include_stream
{
    meta:
        severity = "critical"
        message = "include/require memuat kode dari php://input atau data:// (backdoor)"
    strings:
        $inc = /([^\w>:$]|[^\-]>)(include|require)(_once)?\s*\(?\s*['"](php:\/\/input|data:(\/\/)?text\/plain|data:\/\/)/ nocase
    condition:
        $inc
}

rule php_preg_replace_eval
{
    meta:
        severity = "high"
        message = "preg_replace dengan modifier /e menjalankan hasil penggantian sebagai kode"
    strings:
        $e = /preg_replace\s*\(\s*["'][^"'\n]{1,300}[\/#~|!@%}][a-zA-Z]{0,8}e[a-zA-Z]{0,8}["']\s*,/
    condition:
        $e
}

rule php_preg_replace_eval_request
{
    meta:
        severity = "critical"
        message = "preg_replace /e dengan input permintaan (webshell)"
    strings:
        $e = /preg_replace\s*\(\s*["'][^"'\n]{1,300}[\/#~|!@%}][a-zA-Z]{0,8}e[a-zA-Z]{0,8}["']\s*,[^;]{0,200}\$_(GET|POST|REQUEST|COOKIE)/
    condition:
        $e
}

rule php_eval_decoded
{
    meta:
        severity = "critical"
        message = "Kode dijalankan langsung dari hasil dekode (eval(base64_decode(...)) dan sejenisnya)"
    strings:
        $eval = /([^\w>:$\\]|[^\-]>)(eval|assert)\s*\(\s*(@\s*)?(\(\s*string\s*\)\s*)?(['"]\?>['"]\s*\.\s*)?(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|hex2bin|convert_uudecode|rawurldecode|urldecode|bzdecompress|pack|unserialize|chr)\s*\(/ nocase
        $create = /create_function\s*\([^;]{0,40},\s*(base64_decode|gzinflate|gzuncompress|str_rot13|strrev|hex2bin)\s*\(/ nocase
    condition:
        any of them
}

rule php_eval_dynamic_call
{
    meta:
        severity = "high"
        message = "eval() menjalankan hasil pemanggilan fungsi variabel (nama fungsi disamarkan)"
    strings:
        $e = /([^\w>:$\\]|[^\-]>)(eval|assert)\s*\(\s*(@\s*)?\$[A-Za-z_]\w{0,30}\s*\(/ nocase
    condition:
        $e
}

rule php_decode_chain
{
    meta:
        severity = "high"
        message = "Rantai dekode berlapis (gzinflate/base64/str_rot13/strrev) khas kode tersamar"
    strings:
        $gz = /(gzinflate|gzuncompress|gzdecode|bzdecompress)\s*\(\s*(base64_decode|str_rot13|strrev|convert_uudecode|hex2bin)\s*\(/ nocase
        $b64 = /base64_decode\s*\(\s*(str_rot13|strrev|gzinflate|gzuncompress|convert_uudecode|hex2bin)\s*\(/ nocase
        $rot = /(str_rot13|strrev)\s*\(\s*(base64_decode|gzinflate|gzuncompress|str_rot13|strrev)\s*\(/ nocase
    condition:
        any of them
}

rule php_encoded_payload
{
    meta:
        severity = "high"
        message = "Blok data tersandi panjang yang langsung didekode"
    strings:
        $blob = /(base64_decode|gzinflate|gzuncompress|str_rot13|strrev|hex2bin|convert_uudecode)\s*\(\s*['"][A-Za-z0-9+\/=\\_\-]{400}/ nocase
    condition:
        $blob
}

rule php_encoded_payload_exec
{
    meta:
        severity = "critical"
        message = "Blok data tersandi panjang didekode di berkas yang juga menjalankan kode"
    strings:
        $blob = /(base64_decode|gzinflate|gzuncompress|str_rot13|strrev|hex2bin|convert_uudecode)\s*\(\s*['"][A-Za-z0-9+\/=\\_\-]{400}/ nocase
        $exec = /([^\w>:$\\]|[^\-]>)(eval|assert|create_function|system|passthru|shell_exec)\s*\(/ nocase
    condition:
        $blob and $exec and filesize < 2MB
}

rule php_hex_string_exec
{
    meta:
        severity = "critical"
        message = "Nama fungsi berbahaya ditulis dalam escape heksadesimal/oktal"
    strings:
        // "\x65\x76\x61\x6c" = eval, "\x73\x79\x73\x74\x65\x6d" = system, "\x61\x73\x73\x65\x72\x74" = assert
        $eval = "\\x65\\x76\\x61\\x6c" nocase
        $system = "\\x73\\x79\\x73\\x74\\x65\\x6d" nocase
        $assert = "\\x61\\x73\\x73\\x65\\x72\\x74" nocase
        $b64 = "\\x62\\x61\\x73\\x65\\x36\\x34" nocase
        $shell = "\\x73\\x68\\x65\\x6c\\x6c\\x5f" nocase
        $create = "\\x63\\x72\\x65\\x61\\x74\\x65\\x5f" nocase
        $oeval = "\\145\\166\\141\\154"
        $osystem = "\\163\\171\\163\\164\\145\\155"
        $ob64 = "\\142\\141\\163\\145\\66\\64"
        $get = "\\x47\\x45\\x54" nocase
        $post = "\\x50\\x4f\\x53\\x54" nocase
    condition:
        any of them
}

rule php_nonalpha_shell
{
    meta:
        severity = "high"
        message = "Kode PHP tanpa huruf (XOR/increment pada string) khas webshell tersamar"
    strings:
        $xor = /\$_+\s*=\s*\(?\s*["'][^"'\n]{1,12}["']\s*\^\s*["'][^"'\n]{1,12}["']\s*\)?\s*\.\s*\(?\s*["'][^"'\n]{1,12}["']\s*\^/
        $inc = /\$_+\s*=\s*\$_+\s*\.\s*\$_+\s*\[\s*\$_+\s*\]\s*;\s*\$_+\+\+/
        $var = /\$\{\s*["']_["']\s*\.\s*\$_+\s*\}\s*\[/
    condition:
        any of them
}

rule php_str_replace_obfuscation
{
    meta:
        severity = "high"
        message = "Nama fungsi berbahaya disusun dengan str_replace/strtr untuk mengelabui pemindai"
    strings:
        $sr = /str_replace\s*\(\s*['"][^'"]{1,6}['"]\s*,\s*['"]['"]\s*,\s*['"][^'"]{0,40}(b[^'"]{0,3}a[^'"]{0,3}s[^'"]{0,3}e[^'"]{0,3}6[^'"]{0,3}4|e[^'"]{0,3}v[^'"]{0,3}a[^'"]{0,3}l|a[^'"]{0,3}s[^'"]{0,3}s[^'"]{0,3}e[^'"]{0,3}r[^'"]{0,3}t|s[^'"]{0,3}y[^'"]{0,3}s[^'"]{0,3}t[^'"]{0,3}e[^'"]{0,3}m|g[^'"]{0,3}z[^'"]{0,3}i[^'"]{0,3}n[^'"]{0,3}f)/ nocase
    condition:
        $sr
}

rule php_uploader_client_name
{
    meta:
        severity = "high"
        message = "Unggahan disimpan dengan nama berkas dari klien tanpa pemeriksaan (celah unggah webshell)"
    strings:
        $move = /(move_uploaded_file|copy)\s*\(\s*\$_FILES\s*\[[^\]]{1,40}\]\s*\[\s*['"]tmp_name['"]\s*\]\s*,\s*[^;]{0,120}\$_FILES\s*\[[^\]]{1,40}\]\s*\[\s*['"]name['"]\s*\]\s*\)/ nocase
        $req = /(move_uploaded_file|copy)\s*\(\s*\$_FILES\s*\[[^\]]{1,40}\]\s*\[\s*['"]tmp_name['"]\s*\]\s*,\s*[^;]{0,60}\$_(GET|POST|REQUEST)\b/ nocase
    condition:
        any of them
}

rule php_mini_uploader
{
    meta:
        severity = "critical"
        message = "Pengunggah mini (formulir unggah + move_uploaded_file dalam berkas kecil) khas backdoor"
    strings:
        $form = /enctype\s*=\s*['"\\]*multipart\/form-data/ nocase
        $move = /(move_uploaded_file|copy)\s*\(\s*\$_FILES/ nocase
        $name = /\$_FILES\s*\[[^\]]{1,40}\]\s*\[\s*['"]name['"]\s*\]/ nocase
        $cwd = /(getcwd\s*\(|__DIR__|dirname\s*\(\s*__FILE__|\$_SERVER\s*\[\s*['"]DOCUMENT_ROOT)/ nocase
        $sink = /([^\w>:$\\]|[^\-]>)(eval|system|shell_exec|passthru|exec)\s*\(/ nocase
    condition:
        filesize < 6KB and $form and $move and $name and ($cwd or $sink)
}

rule php_file_write_request
{
    meta:
        severity = "high"
        message = "Berkas ditulis dengan nama atau isi dari input permintaan"
    strings:
        $put = /([^\w>:$]|[^\-]>)(file_put_contents|fopen)\s*\(\s*(@\s*)?[^;,]{0,40}\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        $write = /([^\w>:$]|[^\-]>)(fwrite|fputs)\s*\([^;,]{1,40},\s*(@\s*)?((stripslashes|base64_decode|urldecode)\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
    condition:
        any of them
}

rule php_file_write_request_both
{
    meta:
        severity = "critical"
        message = "Nama dan isi berkas sama-sama diambil dari input permintaan (penulis webshell)"
    strings:
        $put = /file_put_contents\s*\(\s*(@\s*)?[^;,]{0,40}\$_(GET|POST|REQUEST|COOKIE)[^;]{0,120},\s*(@\s*)?((stripslashes|base64_decode|urldecode|gzinflate)\s*\(\s*)*\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
    condition:
        $put
}

rule php_webshell_filesman_wso
{
    meta:
        severity = "critical"
        message = "Webshell keluarga FilesMan/WSO"
    strings:
        $fm = "FilesMan"
        $w1 = "wso_version"
        $w2 = "function wsoEx"
        $w3 = "wsoLogin"
        $w4 = "actionFilesMan"
        $w5 = "$default_action"
        $w6 = "wsoHeader"
        $w7 = "wsoSecParam"
        $w8 = "$default_use_ajax"
        $w9 = "function actionSafeMode"
    condition:
        ($fm and any of ($w*)) or 2 of ($w*)
}

rule php_webshell_known_family
{
    meta:
        severity = "critical"
        message = "Penanda webshell yang dikenal (b374k, c99, r57, IndoXploit, dll.)"
    strings:
        $b374k = "b374k" nocase
        $c99a = "c99shell" nocase
        $c99b = "c99sh_" nocase
        $c99c = "c999shell" nocase
        $c99d = "c99_buff_prepare" nocase
        $r57a = "r57shell" nocase
        $r57b = "r57_pwd_hash" nocase
        $idx1 = "IndoXploit" nocase
        $idx2 = "IDX_Config" nocase
        $alfa1 = "ALFA_DATA" nocase
        $alfa2 = "AlfaTeam" nocase
        $alfa3 = "~ ALFA TEAM" nocase
        $gel4y = "Gel4y Mini Shell" nocase
        $fox = "AnonymousFox" nocase
        $m1n1 = "0byt3m1n1" nocase
        $con7 = "Con7ext" nocase
        $mari = "MARIJUANA - DIOS" nocase
        $leaf = "Leaf PHPMailer" nocase
        $owl = "Owl PHPMailer" nocase
        $sadrazam = "Sadrazam" nocase
        $wsoname = "WSO 2." nocase
        $shellname1 = "<title>Mini Shell" nocase
        $shellname2 = "Shell Bypass 403" nocase
        $shellname3 = "bypass shell" nocase
        $shellname4 = "PHP Backdoor" nocase
        $shellname5 = "haxor shell" nocase
        $shellname6 = "Uname:</" nocase
        $shellname7 = "Safe Mode: <" nocase
        $shellname8 = "Priv8 Shell" nocase
        $anon1 = "Jijle3" nocase
        $gh1 = "Garuda Security Hacker" nocase
        $ccs1 = "./Mr.Kro" nocase
        $php = "<?"
    condition:
        $php and any of ($b374k, $c99*, $r57*, $idx*, $alfa*, $gel4y, $fox, $m1n1, $con7, $mari, $leaf, $owl, $sadrazam, $wsoname, $shellname*, $anon1, $gh1, $ccs1)
}

rule php_file_manager_tool
{
    meta:
        severity = "high"
        message = "Pengelola berkas web (Tiny File Manager dan sejenisnya) memberi akses penuh ke server"
    strings:
        $tfm = "tinyfilemanager" nocase
        $tfm2 = "Tiny File Manager" nocase
        $php = "<?"
    condition:
        $php and any of ($tfm*)
}

rule php_webshell_command_form
{
    meta:
        severity = "critical"
        message = "Formulir perintah shell yang menjalankan masukan pengguna (webshell)"
    strings:
        $form = /<form[^>]{0,200}method\s*=\s*['"\\]*post/ nocase
        $input = /<input[^>]{0,200}name\s*=\s*['"\\]*(cmd|command|c|exec|execute|shell|komut|perintah)['"\\ >]/ nocase
        $sink = /([^\w>:$\\]|[^\-]>)(system|shell_exec|passthru|exec|popen|proc_open)\s*\(/ nocase
    condition:
        filesize < 200KB and $form and $input and $sink
}

rule php_variable_call_request_arg
{
    meta:
        severity = "medium"
        message = "Fungsi variabel dipanggil dengan input permintaan"
    strings:
        $v = /\$[a-zA-Z]\w{0,29}\s*\(\s*(@\s*)?((stripslashes|base64_decode|urldecode|trim)\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE)\b/
    condition:
        $v
}

rule php_extract_request
{
    meta:
        severity = "low"
        message = "extract()/parse_str() mengubah input permintaan menjadi variabel"
    strings:
        $e = /([^\w>:$]|[^\-]>)(extract|parse_str)\s*\(\s*(@\s*)?\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
    condition:
        $e
}

rule php_error_suppressed_remote_code
{
    meta:
        severity = "critical"
        message = "Kode diunduh dari internet lalu dijalankan (dropper)"
    strings:
        $fetch_eval = /([^\w>:$\\]|[^\-]>)(eval|assert)\s*\(\s*(@\s*)?(['"]\?>['"]\s*\.\s*)?(file_get_contents|curl_exec|fread|stream_get_contents)\s*\(/ nocase
        $inc_url = /([^\w>:$]|[^\-]>)(include|require)(_once)?\s*\(?\s*['"](https?|ftp):\/\//
    condition:
        any of them
}

/* ---- behaviour: droppers and hidden administrator accounts ---- */

rule php_admin_user_backdoor
{
    meta:
        severity = "critical"
        message = "Pintu belakang WordPress: akun administrator dibuat setelah pemeriksaan kata sandi/hash yang tertanam di kode"
    strings:
        $create = /(wp_insert_user|wp_create_user|wp_update_user|register_new_user)\s*\(/ nocase
        $sql = /INSERT\s+INTO\s+[^;]{0,80}(users|usermeta)\b/ nocase
        $admin = /['"]administrator['"]/ nocase
        $caps = /(capabilities|user_level)/ nocase
        // A secret written into the code: the input's hash compared with a literal hash, or
        // hash_equals/password_verify against a literal.
        $cmp1 = /(md5|sha1|crc32|hash)\s*\([^;]{0,80}\)\s*\)?\s*(===?|!==?)\s*['"][0-9a-fA-F]{32,128}['"]/
        $cmp2 = /['"][0-9a-fA-F]{32,128}['"]\s*(===?|!==?)\s*(md5|sha1|crc32|hash)\s*\(/
        $cmp3 = /hash_equals\s*\(\s*['"][0-9a-fA-F]{32,128}['"]/
        $cmp4 = /password_verify\s*\([^;]{1,120},\s*['"]\$(2[aby]|argon2i?d?)\$/
        $req = /\$_(GET|POST|REQUEST|COOKIE)\s*\[|\$_SERVER\s*\[\s*['"]HTTP_/ nocase
    condition:
        filesize < 256KB and ($create or ($sql and $caps)) and $admin and $req and any of ($cmp*)
}

rule php_admin_user_sql
{
    meta:
        severity = "high"
        message = "Akun dengan hak administrator ditulis langsung ke tabel pengguna WordPress"
    strings:
        $users = /INSERT\s+INTO\s+[^;(]{0,80}users\b/ nocase
        $meta = /INSERT\s+INTO\s+[^;(]{0,80}usermeta\b/ nocase
        $caps = /capabilities/ nocase
        $admin = /administrator/ nocase
    condition:
        filesize < 256KB and $users and $meta and $caps and $admin
}

rule php_admin_user_hidden_plugin
{
    meta:
        severity = "high"
        message = "Plugin membuat akun administrator dan menyembunyikan diri dari daftar plugin atau pengguna"
    strings:
        $create = /(wp_insert_user|wp_create_user)\s*\(/ nocase
        $role = /(set_role\s*\(\s*['"]administrator['"]|['"]role['"]\s*=>\s*['"]administrator['"])/ nocase
        $hide1 = /add_filter\s*\(\s*['"](all_plugins|pre_user_query|views_users)['"]/ nocase
        $hide2 = /unset\s*\(\s*\$\w+\s*\[\s*plugin_basename\s*\(\s*__FILE__/ nocase
    condition:
        filesize < 256KB and $create and $role and any of ($hide*)
}

/* ---- markers: not reported, they send the file to the engine's deeper analysis ---- */

rule php_marker_obfuscation
{
    meta:
        severity = "none"
    strings:
        $d1 = /([^\w>:$]|[^\-]>)(base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|hex2bin|convert_uudecode|rawurldecode|urldecode|bzdecompress)\s*\(\s*['"]/ nocase
        $d2 = /([^\w>:$]|[^\-]>)(str_rot13|convert_uudecode)\s*\(/ nocase
        $chr = /chr\s*\(\s*(0x)?[0-9a-fA-F]{1,3}\s*\)\s*\.\s*chr\s*\(/ nocase
        $hex = /(\\x[4-7][0-9a-fA-F]){6}/
        $oct = /\\1[0-7][0-7]\\1[0-7][0-7]\\1[0-7][0-7]/
        $globals = /\$\{\s*['"]/
        $sr = /str_replace\s*\(\s*['"][^'"]{1,6}['"]\s*,\s*['"]['"]\s*,\s*['"]/
    condition:
        any of them
}

rule php_marker_dropper
{
    meta:
        severity = "none"
    strings:
        $fetch_url = /([^\w>:$]|[^\-]>)(file_get_contents|fopen|file|readfile|stream_get_contents|copy|curl_init)\s*\(\s*@?['"](https?|ftp):\/\// nocase
        $fetch_var = /([^\w>:$]|[^\-]>)(file_get_contents|curl_exec|stream_get_contents|wp_remote_retrieve_body|fsockopen)\s*\(/ nocase
        $url = /['"](https?|ftp):\/\/[^'"\s]{4,200}['"]/ nocase
        $write = /([^\w>:$]|[^\-]>)(file_put_contents|fwrite|fputs|copy|rename)\s*\(/ nocase
        $include = /([^\w>:$]|[^\-]>)(include|require)(_once)?[\s(@]/ nocase
    condition:
        filesize < 256KB and ($fetch_url or ($fetch_var and $url)) and $write and $include
}

rule php_marker_assembly
{
    meta:
        severity = "none"
    strings:
        // A function called through a variable (or handed to a callback taker)...
        $call = /\$\w{1,40}\s*(\[\s*\d{1,3}\s*\]\s*)?\(/
        $callback = /(call_user_func|call_user_func_array|array_map|array_filter|array_walk|usort|uasort|register_shutdown_function|ob_start)\s*\([^;]{0,200}\$/ nocase
        // ...in a file that builds a name from pieces or keeps a sink's name in a variable.
        $cat = /['"][A-Za-z_]{1,12}['"]\s*\.\s*['"][A-Za-z_]{1,12}['"]/
        $implode = /(implode|join)\s*\(\s*(['"]['"]\s*,|array\s*\(|\[)/ nocase
        $rev = /(strrev|str_rot13)\s*\(\s*['"][A-Za-z_]{3,20}['"]/ nocase
        $chr = /chr\s*\(\s*(0x)?[0-9a-fA-F]{2,3}\s*\)\s*\./ nocase
        $sr = /str_replace\s*\(\s*['"][^'"]{1,6}['"]\s*,\s*['"]['"]\s*,\s*['"]/ nocase
        $substr = /substr\s*\(\s*['"][^'"]{4,80}['"]\s*,\s*\d/ nocase
        $plain = /\$\w{1,40}\s*=\s*['"](system|exec|shell_exec|passthru|popen|proc_open|assert|pcntl_exec)['"]\s*;/ nocase
    condition:
        filesize < 128KB and ($call or $callback) and ($cat or $implode or $rev or $chr or $sr or $substr or $plain)
}

rule php_marker_exec
{
    meta:
        severity = "none"
    strings:
        $s1 = /([^\w>:$\\]|[^\-]>)(eval|assert|create_function|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(/ nocase
        $cb = /(array_map|call_user_func_array|call_user_func|array_walk|array_filter|usort|uasort|register_shutdown_function)\s*\([^;]{0,100}['"](system|exec|shell_exec|passthru|popen|proc_open|assert|create_function)['"]/ nocase
        $pre = /preg_replace\s*\(\s*['"][^'"\n]{1,300}[\/#~|!@%}][a-zA-Z]{0,8}e[a-zA-Z]{0,8}['"]/
    condition:
        any of them
}

rule php_marker_sink
{
    meta:
        severity = "none"
    strings:
        $cb = /([^\w>:$]|[^\-]>)(call_user_func|call_user_func_array|array_map|register_shutdown_function|file_put_contents|fopen|move_uploaded_file|copy)\s*\(\s*\$/ nocase
        $cb2 = /([^\w>:$]|[^\-]>)(array_walk|array_walk_recursive|array_filter|usort|uasort|uksort|preg_replace_callback)\s*\([^;,]{1,100},\s*\$/ nocase
        $inc = /([^\w>:$]|[^\-]>)(include|require)(_once)?\s*\(?\s*\$\w+\s*[;)]/ nocase
    condition:
        any of them
}

rule php_marker_source
{
    meta:
        severity = "none"
    strings:
        $get = "$_GET"
        $post = "$_POST"
        $request = "$_REQUEST"
        $cookie = "$_COOKIE"
        $files = "$_FILES"
        $server = "$_SERVER"
        $h = /(getallheaders|apache_request_headers)\s*\(/ nocase
        $i = "php://input" nocase
        $g = /\$\{\s*['"]_/
        $gl = /\$GLOBALS\s*\[\s*['"]_/
    condition:
        any of them
}

rule php_marker_load
{
    meta:
        severity = "none"
    strings:
        // An include whose argument starts like an expression (not like prose in a comment) and
        // ends in a literal that is not ".php", names a stream wrapper ("php://", "data:"),
        // builds its target with escapes or decoders, or names a system path.
        $name = /(include|require)(_once)?([\s(@]+(['"$\\_]|[A-Z]{2}|[a-z]\w{1,40}\s*\()|['"])[^;]{0,300}(\.(web|tm|bm|sw|zi)p|[a-oq-zA-OQ-Z0-9])['"]\s*\)?\s*(;|\?>)/
        $wrapper = /(include|require)(_once)?([\s(@]+(['"$\\_]|[A-Z]{2}|[a-z]\w{1,40}\s*\()|['"])([^;]{0,300}['"])?[^'"\n;]{0,40}(:[^:]|\\x3[aA]|\\0?72)/
        $built = /(include|require)(_once)?([\s(@]+(['"$\\_]|[A-Z]{2}|[a-z]\w{1,40}\s*\()|['"])[^;]{0,120}(\\x[0-9a-fA-F]{2}\\x|chr\s*\(|base64_decode|strrev|str_rot13|hex2bin|urldecode)/
        $system = /(include|require)(_once)?([\s(@]+(['"$\\_]|[A-Z]{2}|[a-z]\w{1,40}\s*\()|['"])([^;]{0,40}['"])?\/(proc|dev|tmp|var)\//
        // An include of a variable or a constant: its value is looked up in the file.
        $variable = /(include|require)(_once)?[\s(@]{1,8}(\$\w+|[A-Z_]{1,40}\s*\)?\s*;)/
        $constant = /define\s*\(\s*['"]\w+['"]\s*,\s*['"](php|phar|zlib|compress\.\w+|data|glob|expect|zip|rar):/ nocase
        // eval() of a variable, in a file that reads files
        $eval = /([^\w>:$\\]|[^\-]>)eval\s*\([^;]{0,80}\$\w/ nocase
        $read = /(file_get_contents|gzfile|readgzfile|fread|fgets|stream_get_contents|[^\w>$:]file)\s*\(/ nocase
    condition:
        any of ($name, $wrapper, $built, $system, $variable, $constant) or ($eval and $read)
}
