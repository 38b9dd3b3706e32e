"""ClamAV through the testbed's clamd; clamd unreachable or failing means `error`, never clean."""
from __future__ import annotations

import io
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanners.engines.clamav import ClamAVEngine, ClamdAddress, count_signatures
from scanners.intake import open_upload
from scanners.policy import Policy
from scanners.scan import Scanner, build_engines, scan_path

from .conftest import EICAR


def write_upload(root: Path) -> Path:
    (root / "site" / "files").mkdir(parents=True)
    (root / "site" / "index.php").write_text("<?php echo 'Selamat datang';\n")
    (root / "site" / "files" / "eicar.txt").write_bytes(EICAR)
    return root / "site"


def test_eicar_in_a_directory_is_infected(clamd_url: str, tmp_path: Path) -> None:
    report = scan_path(write_upload(tmp_path), clamd_url=clamd_url)
    assert report.verdict.value == "infected"
    hits = [f for f in report.findings if f.engine == "clamav"]
    assert [(f.path, f.rule) for f in hits] == [("files/eicar.txt", "Wadah.Test.EICAR.UNOFFICIAL")]
    engine = report.to_dict()["engines"]["clamav"]
    assert engine["version"].startswith("ClamAV")
    assert engine["signatures"] >= 1


@pytest.mark.parametrize("mode", ["multiscan", "fildes"])
def test_every_unix_socket_mode_finds_eicar(clamd_url: str, tmp_path: Path, mode: str) -> None:
    engine = ClamAVEngine(url=clamd_url, mode=mode)
    with open_upload(write_upload(tmp_path)) as tree:
        findings = engine.scan(tree)
    assert [f.path for f in findings] == ["files/eicar.txt"]


def test_tcp_clamd_streams_files(clamd_tcp_url: str, tmp_path: Path) -> None:
    engine = ClamAVEngine(url=clamd_tcp_url, mode="instream")
    with open_upload(write_upload(tmp_path)) as tree:
        findings = engine.scan(tree)
    assert [f.path for f in findings] == ["files/eicar.txt"]
    assert engine.describe()["mode"] == "instream"


def test_eicar_inside_nested_archives(clamd_url: str, tmp_path: Path) -> None:
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tf:
        info = tarfile.TarInfo("deep/eicar.com")
        info.size = len(EICAR)
        tf.addfile(info, io.BytesIO(EICAR))
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.php", "<?php echo 1;")
        zf.writestr("vendor/pkg.tgz", inner.getvalue())
    report = scan_path(archive, clamd_url=clamd_url)
    assert report.verdict.value == "infected"
    paths = {f.path for f in report.findings if f.engine == "clamav"}
    assert "vendor/pkg.tgz!/deep/eicar.com" in paths


def test_clean_upload_is_clean(clamd_url: str, tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>Dinas Kominfo</h1>")
    report = scan_path(tmp_path / "site", clamd_url=clamd_url)
    assert report.verdict.value == "clean", report.to_dict()
    assert report.exit_code == 0


def test_clamd_down_gives_error_never_clean(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>ok</h1>")
    report = scan_path(tmp_path / "site", clamd_url=f"unix://{tmp_path}/no-clamd.sock")
    assert report.verdict.value == "error"
    assert report.exit_code == 4
    assert "clamav" in (report.reason or "")


def test_clamd_that_fails_mid_scan_gives_error(tmp_path: Path) -> None:
    """A fake clamd answers PING and VERSION but fails every scan."""
    path = tmp_path / "fake.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                command = conn.recv(4096)
                if b"PING" in command:
                    conn.sendall(b"PONG\n")
                elif b"VERSION" in command:
                    conn.sendall(b"ClamAV 1.4.6/0/fake\n")
                else:
                    conn.sendall(b"/x: lstat() failed: Input/output error. ERROR\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "a.txt").write_text("a")
        report = scan_path(tmp_path / "site", clamd_url=f"unix://{path}")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert report.verdict.value == "error"


def test_clamav_detection_cannot_be_overridden(clamd_url: str, tmp_path: Path) -> None:
    policy = Policy.from_mapping({"severity": {"critical": "clean"},
                                  "rules": [{"engine": "clamav", "verdict": "clean"}]})
    scanner = Scanner(build_engines(policy, clamd_url, ["clamav"]), policy)
    assert scanner.scan(write_upload(tmp_path)).verdict.value == "infected"


def test_progress_is_reported(clamd_url: str, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    scan_path(write_upload(tmp_path), clamd_url=clamd_url,
              progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 2)
    assert seen[-1] == (2, 2)


@pytest.mark.parametrize("url,kind,local", [
    ("unix:///run/clamav/clamd.ctl", "unix", True),
    ("tcp://127.0.0.1:3310", "tcp", True),
    ("tcp://clamd.internal:3310", "tcp", False),
])
def test_clamd_addresses(url: str, kind: str, local: bool) -> None:
    address = ClamdAddress(url)
    assert (address.kind, address.local) == (kind, local)


@pytest.mark.parametrize("url", ["http://x:3310", "tcp://nohost", "unix://"])
def test_bad_clamd_addresses_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        ClamdAddress(url)


def test_project_signatures_are_counted() -> None:
    signatures = Path(__file__).resolve().parents[2] / "scanners" / "signatures"
    assert count_signatures([str(signatures)]) >= 1


@pytest.fixture
def no_clamd_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("WADAH_CLAMD_URL", raising=False)
    yield
