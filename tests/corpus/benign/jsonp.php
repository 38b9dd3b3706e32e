<?php
$callback = preg_replace('/[^a-zA-Z0-9_]/', '', $_GET['callback'] ?? 'cb');
$data = ['status' => 'ok'];
header('Content-Type: application/javascript');
echo $callback . '(' . json_encode($data) . ');';
