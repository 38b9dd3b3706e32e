<?php
@include __DIR__ . '/../uploads/avatars/' . 'default.jpg';
