<?php
$row = $pdo->query('SELECT foto FROM pegawai WHERE id = ' . (int) $_GET['id'])->fetch();
header('Content-Type: image/jpeg');
echo base64_decode($row['foto']);
