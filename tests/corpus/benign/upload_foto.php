<?php
$allowed = ['jpg' => 'image/jpeg', 'png' => 'image/png'];
if (isset($_FILES['foto']) && $_FILES['foto']['error'] === UPLOAD_ERR_OK) {
    $ext = strtolower(pathinfo($_FILES['foto']['name'], PATHINFO_EXTENSION));
    $mime = mime_content_type($_FILES['foto']['tmp_name']);
    if (isset($allowed[$ext]) && $allowed[$ext] === $mime) {
        $name = bin2hex(random_bytes(16)) . '.' . $ext;
        move_uploaded_file($_FILES['foto']['tmp_name'], __DIR__ . '/../storage/foto/' . $name);
    }
}
