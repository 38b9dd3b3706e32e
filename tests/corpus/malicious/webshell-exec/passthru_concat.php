<?php $cmd = "ls " . $_GET['dir']; passthru($cmd);
