<?php
echo '<title>MARIJUANA - DIOS - NO - CREA</title>';
