<?php
$lang = 'id';
require_once 'lang/id.txt';
echo $strings['welcome'];
