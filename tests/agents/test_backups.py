"""App backups in a real restic repository with the testbed's MariaDB: what is kept, restored into
the same app or a new one, retention, a second copy, and SQL from a backup never run as the
administrator.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import pymysql
import pytest

from agents.backups import AppBackups, BackupFailed, BackupNotFound, Repository, Retention
from agents.databases import Databases, MariaDBSettings
from agents.errors import DatabaseError
from agents.state import AppRecord, DatabaseAccount
from tests.agents.support import unique
from tests.support import unavailable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def restic() -> None:
    if shutil.which("restic") is None:
        unavailable("restic is not installed (scripts/bootstrap installs it)")


@pytest.fixture
def databases(testbed: dict[str, Any], mariadb_admin: dict[str, Any]) -> Databases:
    return Databases(MariaDBSettings(user=mariadb_admin["user"], password=mariadb_admin["password"],
                                     host=mariadb_admin["host"], port=mariadb_admin["port"],
                                     app_socket=Path(testbed["mariadb"]["socket"])))


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    return Repository(str(tmp_path / "repo"), tmp_path / "keys" / "restic.key",
                      cache_dir=tmp_path / "cache")


def as_app(testbed: dict[str, Any], account: DatabaseAccount) -> pymysql.connections.Connection:
    return pymysql.connect(unix_socket=testbed["mariadb"]["socket"], user=account.user,
                           password=account.password, database=account.database, autocommit=True)


def make_app(databases: Databases, data_root: Path, testbed: dict[str, Any], *,
             rows: tuple[str, ...] = ()) -> AppRecord:
    name = unique("bk")
    record = AppRecord(name=name, fqdn=f"{name}.example.go.id", env={"APP_KEY": "rahasia"},
                       database=databases.create(name))
    (data_root / name / "uploads").mkdir(parents=True)
    with as_app(testbed, record.database) as conn, conn.cursor() as cursor:  # type: ignore[arg-type]
        cursor.execute("CREATE TABLE posts (id INT AUTO_INCREMENT PRIMARY KEY, title TEXT)")
        for title in rows:
            cursor.execute("INSERT INTO posts (title) VALUES (%s)", (title,))
    return record


def titles(testbed: dict[str, Any], account: DatabaseAccount) -> list[str]:
    with as_app(testbed, account) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT title FROM posts ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_an_app_lost_by_mistake_comes_back_from_its_backup(
        databases: Databases, repository: Repository, testbed: dict[str, Any], tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    record = make_app(databases, data_root, testbed, rows=("Pengumuman CPNS", "Jadwal posyandu"))
    uploads = data_root / record.name / "uploads"
    (uploads / "foto.jpg").write_bytes(b"\xff\xd8 foto kegiatan")
    os.chown(uploads / "foto.jpg", 10000, 10000)
    (uploads / "passwd").symlink_to("/etc/passwd")  # a tenant's link: kept as a link, never followed
    backups = AppBackups(data_root, databases, repository)
    try:
        taken = backups.take(record, reason="terjadwal")
        assert taken.app == record.name and taken.reason == "terjadwal"
        assert taken.size >= len(b"\xff\xd8 foto kegiatan")
        assert [b.id for b in backups.list(record.name)] == [taken.id]
        assert backups.record_of(record.name, taken.id)["env"] == {"APP_KEY": "rahasia"}

        # The mistake: the database dropped, the uploads deleted, a stray file written.
        databases.drop(record.name)
        record.database = databases.create(record.name)
        shutil.rmtree(uploads)
        (data_root / record.name / "sampah.php").write_text("<?php // setelah cadangan")

        backups.restore(record.name, taken.id, record)

        assert titles(testbed, record.database) == ["Pengumuman CPNS", "Jadwal posyandu"]
        photo = uploads / "foto.jpg"
        assert photo.read_bytes() == b"\xff\xd8 foto kegiatan"
        assert (photo.stat().st_uid, photo.stat().st_gid) == (10000, 10000)
        assert (uploads / "passwd").is_symlink() and os.readlink(uploads / "passwd") == "/etc/passwd"
        assert not (data_root / record.name / "sampah.php").exists()
        assert sorted(p.name for p in (data_root / record.name).iterdir()) == ["uploads"]
        assert sorted(p.name for p in data_root.iterdir()) == [record.name]  # no staging left
    finally:
        databases.drop(record.name)


def test_a_backup_restores_as_a_new_app_into_its_own_database(
        databases: Databases, repository: Repository, testbed: dict[str, Any], tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    source = make_app(databases, data_root, testbed, rows=("Profil dinas",))
    (data_root / source.name / "uploads" / "logo.png").write_bytes(b"png")
    copy = AppRecord(name=unique("bk"), fqdn="salinan.example.go.id")
    copy.database = databases.create(copy.name)
    (data_root / copy.name).mkdir()
    backups = AppBackups(data_root, databases, repository)
    try:
        taken = backups.take(source, reason="manual")
        backups.restore(source.name, taken.id, copy)
        assert titles(testbed, copy.database) == ["Profil dinas"]
        assert (data_root / copy.name / "uploads" / "logo.png").read_bytes() == b"png"
        assert titles(testbed, source.database) == ["Profil dinas"]  # type: ignore[arg-type]
    finally:
        databases.drop(source.name)
        databases.drop(copy.name)


def test_retention_keeps_the_newest_of_a_day_and_a_second_repository_gets_a_copy(
        databases: Databases, repository: Repository, testbed: dict[str, Any], tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    record = make_app(databases, data_root, testbed)
    second = Repository(str(tmp_path / "offsite"), tmp_path / "keys" / "offsite.key")
    backups = AppBackups(data_root, databases, repository, copies=[second],
                         retention=Retention(daily=1, weekly=0, monthly=0, within_hours=0))
    try:
        backups.take(record, reason="terjadwal")
        newest = backups.take(record, reason="manual")
        assert [b.id for b in backups.list(record.name)] == [newest.id]
        offsite = AppBackups(data_root, databases, second)
        assert newest.id not in {b.id for b in offsite.list(record.name)}  # copies get their own id
        assert [b.reason for b in offsite.list(record.name)] == ["manual", "terjadwal"]
    finally:
        databases.drop(record.name)


def test_unknown_backups_and_a_wrong_key_are_clear_errors(
        databases: Databases, repository: Repository, testbed: dict[str, Any], tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    record = make_app(databases, data_root, testbed)
    backups = AppBackups(data_root, databases, repository)
    try:
        backups.take(record, reason="manual")
        with pytest.raises(BackupNotFound, match="deadbeef"):
            backups.restore(record.name, "deadbeef", record)
        repository.password_file.write_text("bukan kunci yang benar\n")
        with pytest.raises(BackupFailed, match="restic snapshots gagal"):
            backups.list(record.name)
    finally:
        databases.drop(record.name)


def test_sql_from_a_backup_runs_as_the_app_and_cannot_touch_another_database(
        databases: Databases, testbed: dict[str, Any], tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    victim = make_app(databases, data_root, testbed, rows=("data warga",))
    attacker = make_app(databases, data_root, testbed)
    forged = tmp_path / "forged.sql"
    forged.write_text(f"CREATE TABLE posts (id INT, title TEXT);\n"
                      f"USE `{victim.database.database}`;\n"  # type: ignore[union-attr]
                      f"DROP TABLE posts;\n")
    try:
        with pytest.raises(DatabaseError, match="denied"):
            databases.load(attacker.name, attacker.database, forged)  # type: ignore[arg-type]
        assert titles(testbed, victim.database) == ["data warga"]  # type: ignore[arg-type]
        with pytest.raises(DatabaseError, match="bukan milik"):
            databases.load(attacker.name, victim.database, forged)  # type: ignore[arg-type]
    finally:
        databases.drop(victim.name)
        databases.drop(attacker.name)


def test_a_daily_run_backs_up_many_apps_in_one_snapshot_each_restorable_alone(
        databases: Databases, repository: Repository, testbed: dict[str, Any], tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    first = make_app(databases, data_root, testbed, rows=("Dinas Pendidikan",))
    second = make_app(databases, data_root, testbed, rows=("Dinas Kesehatan",))
    (data_root / second.name / "uploads" / "besar.bin").write_bytes(b"x" * 50_000)
    backups = AppBackups(data_root, databases, repository)
    try:
        taken = backups.run([(first, contextlib.nullcontext()), (second, contextlib.nullcontext())],
                            reason="terjadwal")
        assert taken[0].id == taken[1].id and taken[1].size >= 50_000 > taken[0].size
        assert [b.size for b in backups.list(second.name)] == [taken[1].size]
        databases.drop(first.name)
        first.database = databases.create(first.name)
        backups.restore(first.name, taken[0].id, first)
        assert titles(testbed, first.database) == ["Dinas Pendidikan"]
        assert not (data_root / first.name / "uploads" / "besar.bin").exists()  # not the other's
    finally:
        databases.drop(first.name)
        databases.drop(second.name)
