<?php
include("assets/css/style.css");
