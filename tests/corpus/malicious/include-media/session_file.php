<?php
include '/var/lib/php/sessions/sess_' . basename($_COOKIE['PHPSESSID']);
