<?php
// Halaman status untuk admin, dilindungi basic auth di server.
echo 'OK ' . PHP_VERSION;
