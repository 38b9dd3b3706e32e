"""Backing up 20 apps (each a MariaDB database of 2,000 posts and 32 MiB of uploads) into one restic
repository: the first backup of all of them, then the second, incremental one after a day's change
in each app (one new 512 KiB photo, 50 new posts),
each run as the agent's daily run makes it (one snapshot, retention, one `restic check`).
Target: the second run ≤ 0.2× the first.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import pymysql
from common import figure, ratio, testbed, unique

from agents.backups import AppBackups, Repository
from agents.databases import Databases, MariaDBSettings
from agents.state import AppRecord
from panel.testbed import Testbed

APPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
UPLOAD_BYTES = 4 * 1024 * 1024
UPLOADS_PER_APP = 8
ROWS_PER_APP = 2000
NEW_UPLOAD_BYTES = 512 * 1024
NEW_ROWS = 50


def make_app(databases: Databases, data_root: Path, socket: str) -> AppRecord:
    name = unique("bench-b")
    record = AppRecord(name=name, fqdn=f"{name}.contoh.go.id", database=databases.create(name))
    uploads = data_root / name / "uploads"
    uploads.mkdir(parents=True)
    for i in range(UPLOADS_PER_APP):
        (uploads / f"foto-{i}.jpg").write_bytes(os.urandom(UPLOAD_BYTES))
    add_posts(record, socket, ROWS_PER_APP)
    return record


def add_posts(record: AppRecord, socket: str, count: int) -> None:
    account = record.database
    assert account is not None
    with pymysql.connect(unix_socket=socket, user=account.user, password=account.password,
                         database=account.database, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS posts (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT)")
        cur.executemany("INSERT INTO posts (body) VALUES (%s)",
                        [(f"Berita ke-{i} dari dinas. " * 10,) for i in range(count)])


def run(backups: AppBackups, records: list[AppRecord]) -> float:
    started = time.monotonic()
    backups.run([(record, contextlib.nullcontext()) for record in records], reason="terjadwal")
    return time.monotonic() - started


def main() -> None:
    status = testbed()
    mariadb = status["mariadb"]
    host, _, port = mariadb["tcp"].rpartition(":")
    databases = Databases(MariaDBSettings(
        user=mariadb["admin_user"], password=Testbed().credentials()["mariadb"]["admin_password"],
        host=host, port=int(port), app_socket=Path(mariadb["socket"])))
    with tempfile.TemporaryDirectory(prefix="wadah-bench-backup-") as scratch:
        root = Path(scratch)
        records = [make_app(databases, root / "data", mariadb["socket"]) for _ in range(APPS)]
        try:
            repository = Repository(str(root / "repo"), root / "keys" / "restic.key",
                                    cache_dir=root / "cache")
            backups = AppBackups(root / "data", databases, repository)
            repository.ensure()
            first = run(backups, records)
            for record in records:
                (root / "data" / record.name / "uploads" / "baru.jpg").write_bytes(
                    os.urandom(NEW_UPLOAD_BYTES))
                add_posts(record, mariadb["socket"], NEW_ROWS)
            second = run(backups, records)
            figure("apps", APPS, "")
            figure("first backup (all apps)", first)
            figure("second backup (a day's change in each app)", second)
            ratio("second / first", second, first, "<= 0.2")
        finally:
            for record in records:
                databases.drop(record.name)


if __name__ == "__main__":
    main()
