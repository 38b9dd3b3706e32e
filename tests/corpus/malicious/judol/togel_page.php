<?php $title = "Bandar Togel Online Terpercaya"; ?>
<h1><?php echo $title; ?></h1>
<p>Togel hongkong, togel singapore, toto macau. Situs toto resmi.</p>
