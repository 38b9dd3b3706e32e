<?php
include('/var/log/apache2/access.log');
