<?php
include('php://input');
