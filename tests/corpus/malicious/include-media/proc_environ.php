<?php
require '/proc/self/environ';
