<?php
$exif = exif_read_data('/var/www/html/assets/img/header.jpg');
preg_replace($exif['Make'], $exif['Model'], '');
