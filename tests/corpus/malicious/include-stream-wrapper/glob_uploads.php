<?php
include 'glob:///var/www/html/wp-content/uploads/*.jpg';
