<?php
$GLOBALS['__ALFA_SHELL_CODE'] = 'x';
define("ALFA_DATA", "__ALFA_DATA__");
echo "~ ALFA TEAM 4.1 ~";
