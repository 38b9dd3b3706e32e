<?php
return [
    's3' => [
        'key'    => 'AKIAIOSFODNN7EXAMPLE',
        'secret' => 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        'region' => 'ap-southeast-3',
        'bucket' => 'arsip-opd',
    ],
];
