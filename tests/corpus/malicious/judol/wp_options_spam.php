<?php
$blogdescription = 'Situs Slot Gacor & Togel Online Terpercaya - Daftar Slot88';
update_option('blogdescription', $blogdescription);
