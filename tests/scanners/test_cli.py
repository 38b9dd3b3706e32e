"""`wadah scan`: JSON and text output, HTML report, exit status per verdict."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from scanners.cli import scan

from .conftest import EICAR


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(scan, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def site(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "site"
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


@pytest.mark.parametrize("files,verdict,status", [
    ({"index.html": b"<h1>Selamat datang</h1>"}, "clean", 0),
    ({"a.php.jpg": b"\xff\xd8\xff\xe0 jpeg"}, "review", 1),
    ({"x.php": b"<?php system($_GET['c']);"}, "infected", 2),
    ({"files/eicar.com": EICAR}, "infected", 2),
])
def test_exit_status_follows_the_verdict(clamd_url: str, tmp_path: Path,
                                         files: dict[str, bytes], verdict: str,
                                         status: int) -> None:
    code, output = run(str(site(tmp_path, files)), "--json", "--clamd", clamd_url)
    report = json.loads(output)
    assert (code, report["verdict"]) == (status, verdict)


def test_json_report_shape(clamd_url: str, tmp_path: Path) -> None:
    root = site(tmp_path, {"index.php": b"<?php\n\neval($_POST['x']);\n", "ok.txt": b"ok"})
    code, output = run(str(root), "--json", "--clamd", clamd_url)
    report = json.loads(output)
    assert code == 2
    assert set(report) >= {"verdict", "reason", "findings", "stats", "engines"}
    assert set(report["stats"]) >= {"files", "bytes", "seconds"}
    assert report["stats"]["files"] == 2
    finding = report["findings"][0]
    assert set(finding) >= {"engine", "rule", "severity", "path", "line", "message"}
    assert (finding["path"], finding["line"], finding["severity"]) == ("index.php", 3, "critical")
    assert {"clamav", "bandit", "php", "judol", "filetypes", "secrets"} <= set(report["engines"])
    assert report["engines"]["clamav"]["signatures"] >= 1


def test_rejected_archive_exits_3_with_reason(tmp_path: Path) -> None:
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../../etc/cron.d/x", "* * * * * root sh")
    code, output = run(str(archive), "--json", "--clamd", "unix:///nonexistent.sock")
    report = json.loads(output)
    assert (code, report["verdict"], report["reason_code"]) == (3, "rejected", "path_traversal")
    assert report["reason"]


def test_clamd_unreachable_exits_4(tmp_path: Path) -> None:
    root = site(tmp_path, {"index.html": b"ok"})
    code, output = run(str(root), "--json", env={"WADAH_CLAMD_URL": f"unix://{tmp_path}/x.sock"})
    assert (code, json.loads(output)["verdict"]) == (4, "error")


def test_clamd_address_comes_from_the_environment(clamd_url: str, tmp_path: Path) -> None:
    root = site(tmp_path, {"eicar.txt": EICAR})
    code, _ = run(str(root), "--json", env={"WADAH_CLAMD_URL": clamd_url})
    assert code == 2


def test_text_summary_and_html_report(clamd_url: str, tmp_path: Path) -> None:
    root = site(tmp_path, {"up/<b>evil</b>.php": b"<?php\n@eval($_POST['<script>x']);\n"})
    html = tmp_path / "laporan.html"
    code, output = run(str(root), "--html", str(html), "--clamd", clamd_url)
    assert code == 2
    assert "TERINFEKSI" in output and "up/<b>evil</b>.php:2" in output
    page = html.read_text()
    assert "Laporan Pemindaian" in page and "Terinfeksi" in page
    assert "baris 2" in page
    # File names and offending lines are shown escaped, never as markup.
    assert "&lt;b&gt;evil&lt;/b&gt;.php" in page and "<script>x" not in page


def test_usage_errors_exit_4_not_2() -> None:
    code, _ = run()
    assert code == 4
    code, _ = run("x", "--policy", "/nonexistent/policy.yaml")
    assert code == 4


def test_bad_policy_exits_4(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("severity:\n  critical: maybe\n")
    code, _ = run(str(tmp_path), "--policy", str(policy))
    assert code == 4


def test_the_wadah_group_exposes_scan() -> None:
    from panel.cli import main

    result = CliRunner().invoke(main, ["scan", "--help"])
    assert result.exit_code == 0 and "--clamd" in result.output


def test_cache_option_rescans_only_changed_files(clamd_url: str, tmp_path: Path) -> None:
    root = site(tmp_path, {"index.php": b"<?php echo 'beranda';\n", "ok.txt": b"ok",
                           "lib/db.php": b"<?php $db = new PDO('sqlite::memory:');\n"})
    cache = tmp_path / "cache"
    code, output = run(str(root), "--json", "--clamd", clamd_url, "--cache", str(cache))
    assert code == 0 and "cached" not in json.loads(output)["stats"]
    (root / "lib" / "db.php").write_bytes(b"<?php system($_GET['c']);\n")
    code, output = run(str(root), "--json", "--clamd", clamd_url, "--cache", str(cache))
    report = json.loads(output)
    assert (code, report["verdict"], report["stats"]["cached"]) == (2, "infected", 2)
    assert {f["path"] for f in report["findings"]} == {"lib/db.php"}
    code, output = run(str(root), "--clamd", clamd_url, "--cache", str(cache))
    assert code == 2 and "3 berkas dari cache putusan" in output
