<?php
include dirname(__FILE__) . '/.cache/thumbs/a91f';
