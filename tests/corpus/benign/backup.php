<?php
require __DIR__ . '/../vendor/autoload.php';
$db = getenv('DB_NAME');
$target = '/var/backups/' . date('Ymd') . '.sql.gz';
exec('mysqldump ' . escapeshellarg($db) . ' | gzip > ' . escapeshellarg($target), $out, $status);
$revision = shell_exec('git rev-parse --short HEAD');
