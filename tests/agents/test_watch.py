"""Deployed apps watched, with the real scanner and clamd: a judi-online page or a webshell dropped in
an app's data is quarantined (inotify or sweep), a tenant's link is never followed, and a technician
releases a false positive or deletes the evidence."""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.quarantine import Held, Quarantine, QuarantineError
from agents.watch import Watcher, code_changes, manifest
from scanners import Scanner, build_engines
from scanners.policy import Policy

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parents[1] / "corpus"
JUDOL = (CORPUS / "malicious/judol/landing_slot_gacor.html").read_bytes()
WEBSHELL = next((CORPUS / "malicious/webshell-eval").iterdir()).read_bytes()
UPLOADS = "wp-content%2Fuploads"  # how the agent stores writable path wp-content/uploads
BOUND_S = 60  # the promise for a dropped file; these wait, they do not measure


@pytest.fixture(scope="module")
def scanner(testbed: dict[str, Any]) -> Scanner:
    policy = Policy.load()
    return Scanner(build_engines(policy, str(testbed["clamd"]["address"])), policy)


@pytest.fixture
def app_data(tmp_path: Path) -> Path:
    data = tmp_path / "data" / "portal"
    (data / UPLOADS / "2026" / "12").mkdir(parents=True)
    (data / UPLOADS / "2026" / "12" / "kegiatan.jpg").write_bytes(b"\xff\xd8\xff\xe0 foto")
    return data


@pytest.fixture
def watcher(scanner: Scanner, app_data: Path, tmp_path: Path) -> Iterator[tuple[Watcher, list[Held]]]:
    seen: list[Held] = []
    quarantine = Quarantine(tmp_path / "quarantine")
    # Under the rules it remembers: no rescan of everything runs beside these tests (see the last two).
    remembered = tmp_path / "watch-fingerprint"
    remembered.write_text(scanner.fingerprint())
    watcher = Watcher(scanner=scanner, quarantine=quarantine, stage_root=tmp_path / "stage",
                      apps=lambda: {"portal": app_data}, on_detection=seen.append,
                      sweep_interval_s=3600, fingerprint_file=remembered)
    yield watcher, seen
    watcher.stop()


def wait_for(condition: Any) -> bool:
    done = threading.Event()
    for _ in range(BOUND_S * 4):
        if condition():
            return True
        done.wait(0.25)
    return False


def test_a_judi_online_page_dropped_into_uploads_is_quarantined_by_inotify(
        watcher: tuple[Watcher, list[Held]], app_data: Path) -> None:
    agent, seen = watcher
    agent.start()
    assert wait_for(lambda: "portal" in agent.watched)
    dropped = app_data / UPLOADS / "2026" / "12" / "slot-gacor.html"
    dropped.write_bytes(JUDOL)

    assert wait_for(lambda: not dropped.exists())
    held = seen[0]
    assert held.action == "quarantined" and held.app == "portal"
    assert held.served_path == "wp-content/uploads/2026/12/slot-gacor.html"
    assert any(f.engine == "judol" for f in held.findings)
    evidence = agent.quarantine.root / "portal" / held.id / "evidence"
    assert evidence.read_bytes() == JUDOL and (evidence.stat().st_mode & 0o777) == 0o600
    assert (app_data / UPLOADS / "2026" / "12" / "kegiatan.jpg").exists()  # the photo stays
    assert [h.id for h in agent.quarantine.records("portal")] == [held.id]


def test_a_new_folder_with_a_webshell_inside_is_found_too(
        watcher: tuple[Watcher, list[Held]], app_data: Path, tmp_path: Path) -> None:
    agent, seen = watcher
    agent.start()
    assert wait_for(lambda: "portal" in agent.watched)
    outside = tmp_path / "plugin"
    outside.mkdir()
    (outside / "wp-cache.php").write_bytes(WEBSHELL)
    os.rename(outside, app_data / UPLOADS / "plugin")  # arrives whole: one MOVED_TO of a folder
    assert wait_for(lambda: not (app_data / UPLOADS / "plugin" / "wp-cache.php").exists())
    assert seen[0].served_path == "wp-content/uploads/plugin/wp-cache.php"


def test_the_sweep_finds_what_arrived_while_nobody_watched_and_links_are_never_followed(
        watcher: tuple[Watcher, list[Held]], app_data: Path) -> None:
    agent, seen = watcher
    agent.sync()  # watching from here, but the inotify queue is never read: only the sweep sees
    (app_data / UPLOADS / "shell.php").write_bytes(WEBSHELL)
    (app_data / UPLOADS / "passwd.php").symlink_to("/etc/passwd")
    (app_data / UPLOADS / "etc").symlink_to("/etc", target_is_directory=True)
    before = Path("/etc/passwd").read_bytes()

    agent.sweep()

    assert not (app_data / UPLOADS / "shell.php").exists()
    assert [h.served_path for h in seen] == ["wp-content/uploads/shell.php"]
    assert (app_data / UPLOADS / "passwd.php").is_symlink()
    assert Path("/etc/passwd").read_bytes() == before
    agent.sweep()
    assert len(seen) == 1  # nothing new, nothing judged twice


def test_a_technician_releases_a_false_positive_and_it_is_not_taken_again(
        watcher: tuple[Watcher, list[Held]], app_data: Path) -> None:
    agent, seen = watcher
    agent.sync()
    dropped = app_data / UPLOADS / "promo.html"
    dropped.write_bytes(JUDOL)
    os.chmod(dropped, 0o640)
    agent.sweep()
    held = seen[0]

    released = agent.quarantine.release("portal", held.id, app_data)

    assert released.action == "released"
    assert dropped.read_bytes() == JUDOL and (dropped.stat().st_mode & 0o777) == 0o640
    agent.sweep()
    os.utime(dropped)  # touched again: the same content stays allowed
    agent.sweep()
    assert dropped.exists() and len(seen) == 1
    with pytest.raises(QuarantineError, match="tidak ada"):
        agent.quarantine.release("portal", "../../etc", app_data)


def test_a_release_never_overwrites_what_is_there_now_and_delete_removes_the_evidence(
        watcher: tuple[Watcher, list[Held]], app_data: Path) -> None:
    agent, seen = watcher
    agent.sync()
    dropped = app_data / UPLOADS / "index.php"
    dropped.write_bytes(WEBSHELL)
    agent.sweep()
    held = seen[0]
    dropped.write_text("<?php echo 'halaman baru';")

    with pytest.raises(QuarantineError, match="sudah ada"):
        agent.quarantine.release("portal", held.id, app_data)
    assert dropped.read_text() == "<?php echo 'halaman baru';"

    agent.quarantine.delete("portal", held.id)
    assert agent.quarantine.records("portal") == []
    assert not (agent.quarantine.root / "portal" / held.id).exists()


def test_a_release_code_tree_is_checked_against_its_manifest(tmp_path: Path) -> None:
    code = tmp_path / "release"
    (code / "app").mkdir(parents=True)
    (code / "index.php").write_text("<?php require 'app/boot.php';")
    (code / "app" / "boot.php").write_text("<?php // boot")
    expected = manifest(code)
    assert code_changes(code, expected) == []
    (code / "app" / "boot.php").write_text("<?php eval($_POST['x']);")
    (code / "app" / "extra.php").write_text("<?php")
    (code / "index.php").unlink()
    assert code_changes(code, expected) == ["app/boot.php", "app/extra.php", "index.php"]


def _watching(scanner: Scanner, app_data: Path, tmp_path: Path, fingerprint: str | None) -> Watcher:
    remembered = tmp_path / "watch-fingerprint"
    if fingerprint is not None:
        remembered.write_text(fingerprint)
    agent = Watcher(scanner=scanner, quarantine=Quarantine(tmp_path / "quarantine"),
                    stage_root=tmp_path / "stage", apps=lambda: {"portal": app_data},
                    sweep_interval_s=3600, fingerprint_file=remembered)
    agent.sync()  # what is there now is what it has seen: no change to scan
    return agent


def test_files_are_scanned_again_when_the_rules_change(scanner: Scanner, app_data: Path,
                                                       tmp_path: Path) -> None:
    # Put there while the old rules (another fingerprint) did not know it: inotify saw nothing new.
    old = app_data / UPLOADS / "2026" / "12" / "arsip.html"
    old.write_bytes(JUDOL)
    agent = _watching(scanner, app_data, tmp_path, "sidik-jari-aturan-lama")
    try:
        agent.sweep()  # nothing changed on disk, but the rules did: every file is scanned again
        agent.wait_for_rescan(BOUND_S)
        assert not old.exists()
        [held] = agent.quarantine.records("portal")
        assert held.served_path == "wp-content/uploads/2026/12/arsip.html" and held.action == "quarantined"
        assert (app_data / UPLOADS / "2026" / "12" / "kegiatan.jpg").exists()
        assert agent.fingerprint_file.read_text() == scanner.fingerprint()
        assert not agent.rescan_if_rules_changed()  # remembered: not again at the next sweep
    finally:
        agent.stop()


def test_files_are_not_scanned_again_under_the_same_rules(scanner: Scanner, app_data: Path,
                                                          tmp_path: Path) -> None:
    kept = app_data / UPLOADS / "2026" / "12" / "arsip.html"
    kept.write_bytes(JUDOL)
    agent = _watching(scanner, app_data, tmp_path, scanner.fingerprint())
    try:
        agent.sweep()
        agent.wait_for_rescan(BOUND_S)
        assert kept.exists() and agent.quarantine.records("portal") == []
    finally:
        agent.stop()
