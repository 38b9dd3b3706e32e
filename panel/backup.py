"""The panel's own backup: its database, instance file (SECRET_KEY, SECRETS_KEY), CA and letters.

Kept in a restic repository whose password is a passphrase the operator chooses and keeps apart from
the machine: the backup holds the keys that decrypt every app's variables and that the agents trust,
so it is sealed with something a thief of the disk does not have. A restore onto a fresh machine
brings back requests, apps, audit and hosts, and the agents go on trusting the panel (same CA).

A snapshot holds, relative to a private staging directory:

    database.sqlite3 | database.pgdump   SQLite's online backup, or `pg_dump --format=custom`
    wadah.toml                           the instance file
    ca/                                  the panel's CA and its client certificate
    attachments/                         request letters
    artifacts/                           uploaded bundles (with --with-artifacts)
"""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from agents.backups import Backup, BackupFailed, Repository, describe, tags_for
from agents.private_files import SQLITE_SIDE_FILES
from panel import config as configuration
from panel import private_files

logger = logging.getLogger(__name__)

TAG = "panel"
SQLITE_COPY = "database.sqlite3"
PG_DUMP = "database.pgdump"
INSTANCE = "wadah.toml"
FOLDERS = ("ca", "attachments")


class PanelBackupRefused(Exception):
    """A restore would overwrite a panel in use, or the backup is not a panel's."""


@dataclass(frozen=True)
class PanelPaths:
    """Where one panel keeps what its backup holds."""

    instance_path: Path
    config: dict[str, Any]

    @classmethod
    def of(cls, instance_path: Path) -> PanelPaths:
        return cls(instance_path, configuration.load(instance_path))

    @property
    def instance_file(self) -> Path:
        return configuration.instance_file(self.instance_path)

    @property
    def database_url(self) -> str:
        return str(self.config["SQLALCHEMY_DATABASE_URI"])

    def folder(self, name: str) -> Path:
        key = {"attachments": "ATTACHMENT_DIR", "artifacts": "ARTIFACT_DIR"}.get(name)
        return Path(self.config[key]) if key else self.instance_path / name


@contextmanager
def passphrase_file(passphrase: str) -> Iterator[Path]:
    """Yield a private file holding `passphrase` for restic, removed afterwards."""
    if len(passphrase) < 12:
        raise PanelBackupRefused("frasa sandi cadangan minimal 12 karakter")
    with tempfile.TemporaryDirectory(prefix="wadah-backup-") as directory:
        path = Path(directory) / "passphrase"
        private_files.write(path, passphrase)
        yield path


def create(paths: PanelPaths, repo: Repository, *, with_artifacts: bool = False) -> Backup:
    """Back up the panel into `repo` (created if new) and check the repository."""
    repo.ensure()
    with tempfile.TemporaryDirectory(prefix="wadah-panel-backup-") as directory:
        stage = Path(directory)
        _copy_database(paths.database_url, stage)
        if paths.instance_file.is_file():
            shutil.copy2(paths.instance_file, stage / INSTANCE)
        for name in (*FOLDERS, *(("artifacts",) if with_artifacts else ())):
            if paths.folder(name).is_dir():
                shutil.copytree(paths.folder(name), stage / name, symlinks=True)
        entries = sorted(p.name for p in stage.iterdir())
        size = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file() and not f.is_symlink())
        summary = repo.backup(stage, entries, ["reason:manual", *tags_for(TAG, size, None)])
    repo.check()
    snapshot_id = str(summary["snapshot_id"])
    logger.info("panel backup %s written (%s bytes)", snapshot_id, size)
    return next(b for b in list_backups(repo) if snapshot_id.startswith(b.id))


def list_backups(repo: Repository) -> list[Backup]:
    """Return the panel's backups in `repo`, newest first."""
    return [describe(s, TAG) for s in reversed(repo.snapshots(f"app:{TAG}"))]


def restore(paths_root: Path, repo: Repository, backup_id: str, *, force: bool = False) -> Path:
    """Put a panel backup in place under instance folder `paths_root`; return the instance file.

    Refuses to overwrite a panel that already has a database unless `force`: restoring over a live
    panel loses what happened since the backup.
    """
    snapshot = next((s for s in repo.snapshots(f"app:{TAG}")
                     if backup_id in (s["short_id"], s["id"])), None)
    if snapshot is None:
        raise PanelBackupRefused(f"cadangan panel {backup_id} tidak ada")
    with tempfile.TemporaryDirectory(prefix="wadah-panel-restore-") as directory:
        stage = Path(directory)
        repo.restore(snapshot["id"], stage, include="/")
        if not (stage / INSTANCE).is_file():
            raise PanelBackupRefused(f"cadangan {backup_id} tidak memuat {INSTANCE}")
        private_files.private_dir(paths_root)
        instance_file = configuration.instance_file(paths_root)
        private_files.write(instance_file, (stage / INSTANCE).read_bytes())
        paths = PanelPaths.of(paths_root)  # the restored file says where the rest goes
        _restore_database(stage, paths.database_url, force=force)
        for name in (*FOLDERS, "artifacts"):
            if (stage / name).is_dir():
                target = paths.folder(name)
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(stage / name, target, symlinks=True)
                private_files.private_dir(target)
    logger.info("panel backup %s restored into %s", backup_id, paths_root)
    return instance_file


def _copy_database(url: str, stage: Path) -> None:
    database = private_files.sqlite_path(url)
    if database is not None:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        target = sqlite3.connect(stage / SQLITE_COPY)
        try:
            source.backup(target)  # consistent even while the panel writes
        finally:
            source.close()
            target.close()
        return
    _pg("pg_dump", url, ["--format=custom", f"--file={stage / PG_DUMP}"])


def _restore_database(stage: Path, url: str, *, force: bool) -> None:
    target = private_files.sqlite_path(url)
    if target is not None:
        if not (stage / SQLITE_COPY).is_file():
            raise PanelBackupRefused("cadangan ini dari PostgreSQL; panel ini memakai SQLite")
        if target.exists() and not force:
            raise PanelBackupRefused(f"{target} sudah ada: pulihkan dengan --force untuk menimpanya")
        for suffix in ("", *SQLITE_SIDE_FILES):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stage / SQLITE_COPY, target)
        private_files.tighten_sqlite(target)
        return
    if not (stage / PG_DUMP).is_file():
        raise PanelBackupRefused("cadangan ini dari SQLite; panel ini memakai PostgreSQL")
    options = ["--clean", "--if-exists", "--no-owner", str(stage / PG_DUMP)]
    if not force:
        options.insert(0, "--exit-on-error")
    _pg("pg_restore", url, options, database_flag=True)


def _pg(binary: str, url: str, options: list[str], database_flag: bool = False) -> None:
    """Run a PostgreSQL client with the URL's password in its environment, never its arguments."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    env = {**os.environ, "PGPASSWORD": unquote(parts.password or "")}
    target = [f"--host={parts.hostname or 'localhost'}", f"--port={parts.port or 5432}",
              f"--username={unquote(parts.username or '')}"]
    database = parts.path.lstrip("/")
    argv = [shutil.which(binary) or binary, *target,
            *([f"--dbname={database}"] if database_flag else []), *options,
            *([] if database_flag else [database])]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0:
        raise BackupFailed(f"{binary} gagal: {proc.stderr.strip()[-500:]}")
