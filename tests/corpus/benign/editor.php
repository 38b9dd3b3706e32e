<?php
$base = realpath(__DIR__ . '/templates');
$file = realpath($base . '/' . basename($_POST['file'] ?? ''));
if ($file !== false && str_starts_with($file, $base . DIRECTORY_SEPARATOR)) {
    file_put_contents($file, $_POST['content'] ?? '');
}
