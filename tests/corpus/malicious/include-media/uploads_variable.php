<?php
$base = __DIR__ . '/wp-content/uploads/2023/11/';
$file = $base . 'IMG_2047.jpeg';
require $file;
