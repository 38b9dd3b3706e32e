<?php
class PegawaiController
{
    public function handle(): void
    {
        $action = $_GET['action'] ?? 'index';
        $method = 'action' . ucfirst($action);
        if (method_exists($this, $method)) {
            call_user_func([$this, $method]);
        }
        $pdo = new PDO('sqlite::memory:');
        $pdo->exec('CREATE TABLE t (id INTEGER)');
        $clean = preg_replace('/\s+/', ' ', $_POST['q'] ?? '');
    }

    private function actionIndex(): void
    {
        echo 'daftar pegawai';
    }
}
