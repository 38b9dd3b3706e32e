<?php
declare(strict_types=1);

$errors = [];
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $nama = trim($_POST['nama'] ?? '');
    $pesan = trim($_POST['pesan'] ?? '');
    if ($nama === '' || $pesan === '') {
        $errors[] = 'Nama dan pesan wajib diisi.';
    } else {
        mail('humas@example.go.id', 'Pesan dari ' . $nama, $pesan);
        header('Location: terima-kasih.php');
        exit;
    }
}
?>
<form method="post">
  <input name="nama" value="<?= htmlspecialchars($_POST['nama'] ?? '', ENT_QUOTES) ?>">
  <textarea name="pesan"></textarea>
  <button>Kirim</button>
</form>
