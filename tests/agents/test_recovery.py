"""Backups as host operations on the real testbed: a PHP app with a database and uploads is backed up,
loses both, and is restored through the host (safety backup first); a backup restores into another
app; the schedule backs up only what is due; findings are listed, released and deleted."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from agents.backups import BackupNotFound
from agents.errors import InvalidRequest, UnknownApp
from agents.host import HostAgent
from agents.quarantine import Detection
from agents.recovery import SAFETY_REASON
from tests.agents.support import fetch, spec, unique
from tests.support import unavailable

pytestmark = pytest.mark.slow

APP = {
    "index.php": """<?php
$db = new mysqli('localhost', getenv('DB_USERNAME'), getenv('DB_PASSWORD'), getenv('DB_DATABASE'),
                 0, getenv('DB_SOCKET'));
$db->query('CREATE TABLE IF NOT EXISTS berita (judul TEXT)');
if (isset($_GET['tulis'])) {
    $db->query("INSERT INTO berita VALUES ('" . $db->real_escape_string($_GET['tulis']) . "')");
}
$rows = $db->query('SELECT judul FROM berita')->fetch_all();
echo 'berita:', implode(',', array_map(fn($r) => $r[0], $rows)), ';';
echo 'berkas:', @file_get_contents('/srv/app/uploads/pengumuman.txt') ?: '-';
""",
    "uploads/.keep": "",
}


@pytest.fixture(scope="module", autouse=True)
def restic() -> None:
    if shutil.which("restic") is None:
        unavailable("restic is not installed (scripts/bootstrap installs it)")


def page(host: HostAgent, name: str, query: str = "") -> str:
    status, body, _ = fetch(host, f"{name}.contoh.go.id", "/" + query)
    assert status == 200, body
    return body


def deploy(host: HostAgent, name: str) -> None:
    host.deploy(spec(host, name, 1, APP, database=True, writable_paths=["uploads"]))


def test_an_app_that_lost_its_database_and_uploads_is_restored_through_its_host(
        host: HostAgent) -> None:
    name = unique("pulih")
    deploy(host, name)
    page(host, name, "?tulis=Jadwal+vaksin")
    uploads = host.state.data_dir(name) / "uploads"
    (uploads / "pengumuman.txt").write_text("Libur nasional")
    assert page(host, name) == "berita:Jadwal vaksin;berkas:Libur nasional"

    taken = host.backup(name)
    assert [b.id for b in host.backups(name)] == [taken.id] and taken.release_id == 1

    assert host.databases is not None
    record = host.state.load(name)
    assert record is not None and record.database is not None
    host.databases.drop(name)  # the mistake: the database gone, made again empty
    host.databases.create(name)
    host.databases.set_password(name, record.database.password)
    (uploads / "pengumuman.txt").unlink()
    assert page(host, name) == "berita:;berkas:-"

    state = host.restore_backup(name, taken.id)

    assert state.state == "running"
    assert page(host, name) == "berita:Jadwal vaksin;berkas:Libur nasional"
    reasons = [b.reason for b in host.backups(name)]
    assert reasons == [SAFETY_REASON, "manual"]  # what was there before the restore is kept too


def test_a_backup_restores_into_another_app_and_bad_requests_are_refused(host: HostAgent) -> None:
    source, copy = unique("asal"), unique("salin")
    deploy(host, source)
    deploy(host, copy)
    page(host, source, "?tulis=Profil+OPD")
    taken = host.backup(source)
    host.restore_backup(source, taken.id, into=copy)
    assert page(host, copy) == "berita:Profil OPD;berkas:-"
    assert page(host, source) == "berita:Profil OPD;berkas:-"
    with pytest.raises(BackupNotFound):
        host.restore_backup(source, "deadbeef", into=copy)
    with pytest.raises(UnknownApp):
        host.restore_backup(source, taken.id, into=unique("tidak-ada"))
    with pytest.raises(InvalidRequest):
        host.restore_backup(source, taken.id, into="../etc")
    with pytest.raises(InvalidRequest):
        host.set_backup_schedule(source, -1)


def test_the_schedule_backs_up_what_is_due_once(host: HostAgent) -> None:
    daily, manual = unique("harian"), unique("manual")
    deploy(host, daily)
    deploy(host, manual)
    host.set_backup_schedule(manual, 0)
    others = {n for n in host.state.names() if n not in (daily, manual)}
    for other in others:  # apps of other tests in this module: off the schedule here
        host.set_backup_schedule(other, 0)

    taken = host.backup_due()
    assert [b.app for b in taken] == [daily]
    assert host.backup_due() == []  # not due again within its 24 hours
    later = datetime.now(UTC) + timedelta(hours=25)
    assert [b.app for b in host.recovery.backup_due(now=later)] == [daily]


def test_findings_are_listed_released_and_deleted_through_the_host(host: HostAgent) -> None:
    name = unique("temuan")
    deploy(host, name)
    uploads = host.state.data_dir(name) / "uploads"
    (uploads / "slot.html").write_text("<a href='https://slot-gacor.example'>slot gacor</a>")
    held = host.recovery.quarantine.hold(name, host.state.data_dir(name), "uploads/slot.html",
                                         [Detection("judol_gambling_link", "judol", "high", "-")])
    assert held is not None and not (uploads / "slot.html").exists()
    assert [f.id for f in host.findings(name)] == [held.id]
    host.release_finding(name, held.id)
    assert (uploads / "slot.html").exists()
    host.delete_finding(name, held.id)
    assert host.findings(name) == []
    with pytest.raises(UnknownApp):
        host.findings(unique("tidak-ada"))
