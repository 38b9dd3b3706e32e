"""App backups in a restic repository: a consistent database dump, the writable data, the app's record.

restic gives what a Pemda's backups need and Wadah should not write by hand: encryption at rest
(the record holds the app's variables and database password), deduplication (a daily backup of an
unchanged app costs almost nothing), retention, and `restic check`. Each snapshot is tagged with its
app, so one repository per host holds every app's history. The repository's password lives in a
0600 file and reaches restic through `RESTIC_PASSWORD_FILE`, never the command line.

restic keeps the paths it is given, so the agent runs it from the parent of the apps' data
directories, and a snapshot of app `x` holds:

    x/                    its writable data, links kept as links (never followed)
    .backup-x/record.json     its desired state (release, variables, storage limit, database account)
    .backup-x/database.sql    `mariadb-dump --single-transaction` of its tables (none without a database)
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents import private_files, tenantfs
from agents.databases import Databases
from agents.errors import HostOperationError
from agents.protocol import app_name
from agents.state import AppRecord

logger = logging.getLogger(__name__)

APP_TAG = "app:"  # a snapshot's app, as a restic tag
RECORD = "record.json"
DATABASE = "database.sql"
DATA = "data"
RESTIC_TIMEOUT_S = 3600
_INCOMPLETE = 3  # restic backup's exit status when some files could not be read


class BackupFailed(HostOperationError):
    """restic or the database dump failed; the message says which and why (502)."""

    status = 502


class BackupNotFound(HostOperationError):
    """No backup of that app has that id (404)."""

    status = 404


@dataclass(frozen=True)
class Retention:
    """Which backups `forget` keeps per app: the newest of each day, week and month, and every one
    of the last `within_hours` (a manual backup and the safety backup of a restore, taken the same
    day as the scheduled one, stay restorable)."""

    daily: int = 7
    weekly: int = 4
    monthly: int = 6
    within_hours: int = 48

    def arguments(self) -> list[str]:
        within = [f"--keep-within={self.within_hours}h"] if self.within_hours else []
        return [f"--keep-daily={self.daily}", f"--keep-weekly={self.weekly}",
                f"--keep-monthly={self.monthly}", *within]


@dataclass(frozen=True)
class Backup:
    """One snapshot of one app."""

    id: str
    app: str
    created_at: str  # ISO 8601 with offset, as restic records it
    size: int  # bytes of the files it holds (before deduplication)
    release_id: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "app": self.app, "created_at": self.created_at, "size": self.size,
                "release_id": self.release_id, "reason": self.reason}


class Repository:
    """One restic repository, reached by its location (a path, `sftp:` or `s3:` URL)."""

    def __init__(self, location: str, password_file: Path, *, cache_dir: Path | None = None,
                 binary: str = "restic") -> None:
        self.location = location
        self.password_file = password_file
        self.cache_dir = cache_dir
        self.binary = shutil.which(binary) or binary
        self._ready = False

    def ensure(self) -> None:
        """Create the password file and the repository unless they exist."""
        if self._ready:
            return
        if not self.password_file.exists():
            private_files.private_dir(self.password_file.parent)
            private_files.write(self.password_file, secrets.token_urlsafe(32) + "\n", exclusive=True)
        if self._run(["cat", "config"], check=False).returncode != 0:
            self._run(["init"])
            logger.info("restic repository created at %s", self.location)
        self._ready = True

    def backup(self, directory: Path, paths: Sequence[str], tags: Sequence[str]) -> dict[str, Any]:
        """Store `paths` (relative to `directory`) as a new snapshot; return restic's summary."""
        argv = ["backup", "--json", "--host=wadah", *(f"--tag={t}" for t in tags), *paths]
        proc = self._run(argv, cwd=directory, check=False)
        if proc.returncode == _INCOMPLETE:  # a file vanished or could not be read: kept the rest
            logger.warning("backup incomplete: %s", proc.stderr.strip()[-500:])
        elif proc.returncode != 0:
            raise BackupFailed(f"restic backup gagal: {proc.stderr.strip()[-500:]}")
        out = proc.stdout
        for line in reversed(out.splitlines()):
            message = json.loads(line)
            if message.get("message_type") == "summary":
                return dict(message)
        raise BackupFailed("restic tidak melaporkan snapshot yang dibuat")

    def snapshots(self, tag: str) -> list[dict[str, Any]]:
        """Return the snapshots carrying `tag`, oldest first, as restic describes them."""
        found = json.loads(self._run(["snapshots", "--json", f"--tag={tag}"]).stdout or "[]")
        return sorted(found, key=lambda s: s["time"])

    def restore(self, snapshot_id: str, target: Path, include: str) -> None:
        """Write the snapshot's files under `include` into `target` (links restored as links)."""
        self._run(["restore", snapshot_id, f"--target={target}", f"--include={include}"])

    def forget(self, retention: Retention) -> None:
        """Drop the snapshots `retention` does not keep, per app, and the data only they used."""
        # Grouped by paths, which name the app: tags name releases and reasons too, and grouping
        # by them would keep each release's backups apart.
        self._run(["forget", "--group-by=paths", *retention.arguments(), "--prune"])

    def check(self) -> None:
        """Verify the repository's structure; raise BackupFailed when restic finds damage."""
        self._run(["check"])

    def copy_from(self, source: Repository, snapshot_ids: Sequence[str]) -> None:
        """Copy snapshots of `source` into this repository (a second copy elsewhere)."""
        self.ensure()
        env = {"RESTIC_FROM_PASSWORD_FILE": str(source.password_file)}
        self._run(["copy", f"--from-repo={source.location}", *snapshot_ids], extra_env=env)

    def _run(self, argv: list[str], *, cwd: Path | None = None, check: bool = True,
             extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
               "RESTIC_REPOSITORY": self.location, "RESTIC_PASSWORD_FILE": str(self.password_file),
               **(extra_env or {})}
        cache = [f"--cache-dir={self.cache_dir}"] if self.cache_dir else ["--no-cache"]
        try:
            proc = subprocess.run([self.binary, "--quiet", *cache, *argv], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=RESTIC_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise BackupFailed(f"restic {argv[0]} gagal: {exc}") from exc
        if check and proc.returncode != 0:
            raise BackupFailed(f"restic {argv[0]} gagal: {proc.stderr.strip()[-500:]}")
        return proc


def tag_of(app: str) -> str:
    return APP_TAG + app_name(app)


def meta_dir(app: str) -> str:
    """Return the name of the directory, beside the apps' data, that stages `app`'s record and dump."""
    return f".backup-{app_name(app)}"


def describe(snapshot: dict[str, Any], app: str) -> Backup:
    """Turn restic's description of a snapshot into `app`'s Backup (a run may hold many apps)."""
    values: dict[str, str] = {}
    for tag in snapshot.get("tags") or []:
        key, _, value = tag.partition(":")
        owner, _, value_of_app = value.partition("=")
        if value_of_app and owner == app:
            values[key] = value_of_app
        elif key == "reason":
            values[key] = value
    release = values.get("release", "")
    return Backup(id=snapshot["short_id"], app=app, created_at=_iso(snapshot["time"]),
                  size=int(values.get("size", 0)), release_id=int(release) if release.isdigit() else None,
                  reason=values.get("reason", ""))


def tags_for(app: str, size: int, release: int | None) -> list[str]:
    """Return the tags naming `app` in a snapshot, with its size and release."""
    return [tag_of(app), f"size:{app}={size}", *([f"release:{app}={release}"] if release else [])]


def find(repository: Repository, app: str, backup_id: str) -> dict[str, Any]:
    """Return restic's snapshot `backup_id` of `app` (its short or full id); raise BackupNotFound."""
    for snapshot in repository.snapshots(tag_of(app)):
        if backup_id in (snapshot["short_id"], snapshot["id"]):
            return snapshot
    raise BackupNotFound(f"cadangan {backup_id} milik aplikasi {app} tidak ada")


def put_back_data(repository: Repository, snapshot: dict[str, Any], source: str,
                  data_dir: Path) -> None:
    """Replace what `data_dir` holds with the snapshot's data, never following a tenant's link.

    The app's container is stopped, so nothing writes there meanwhile. restic restores into a
    root-only directory inside the same volume (owners and links as they were), so the final
    moves are renames within one filesystem.
    """
    landing = data_dir / f".wadah-restore-{secrets.token_hex(4)}"
    landing.mkdir(mode=0o700)
    try:
        repository.restore(snapshot["id"], landing, include=f"/{source}")
        for child in _children(data_dir):
            if child != landing:
                _remove(child)
        restored = landing / source
        if restored.is_dir():
            for child in _children(restored):
                os.rename(child, data_dir / child.name)
    finally:
        tenantfs.remove_tree(landing)


class AppBackups:
    """Takes, lists and restores app backups on one host."""

    def __init__(self, data_root: Path, databases: Databases | None, repository: Repository, *,
                 copies: Sequence[Repository] = (), retention: Retention = Retention()) -> None:
        self.data_root = data_root  # the parent of every app's data directory
        self.databases = databases
        self.repository = repository
        self.copies = tuple(copies)
        self.retention = retention

    def take(self, record: AppRecord, reason: str) -> Backup:
        """Back up one app (the caller holds its lock), then apply retention, copy and check."""
        return self.run([(record, contextlib.nullcontext())], reason)[0]

    def run(self, apps: Sequence[tuple[AppRecord, contextlib.AbstractContextManager[Any]]],
            reason: str) -> list[Backup]:
        """Back up many apps as one restic snapshot, then apply retention, copy and check once.

        Each app's record and dump are staged under its lock (the context manager given with
        it); restic then reads every app's data in one run, so a daily run costs one process
        start and one repository check however many apps the host has.
        """
        self.repository.ensure()
        staged: list[tuple[AppRecord, int]] = []
        try:
            for record, lock in apps:
                with lock:
                    staged.append((record, self._stage(record)))
            if not staged:
                return []
            paths, tags = [], [f"reason:{reason}"]
            for record, size in staged:
                if (self.data_root / record.name).is_dir():
                    paths.append(record.name)
                paths.append(meta_dir(record.name))
                tags += tags_for(record.name, size, _release_of(record))
            summary = self.repository.backup(self.data_root, paths, tags)
        finally:
            for record, _ in staged:
                tenantfs.remove_tree(self.data_root / meta_dir(record.name))
        now = datetime.now(UTC).isoformat(timespec="seconds")
        taken = [Backup(id=str(summary["snapshot_id"])[:8], app=record.name, created_at=now,
                        size=size, release_id=_release_of(record), reason=reason)
                 for record, size in staged]
        logger.info("backup %s of %d apps taken", taken[0].id, len(taken))
        self.repository.forget(self.retention)
        self.repository.check()
        for copy in self.copies:
            copy.copy_from(self.repository, [taken[0].id])
        return taken

    def _stage(self, record: AppRecord) -> int:
        """Write the app's record and dump beside its data; return the bytes the backup holds."""
        meta = self.data_root / meta_dir(record.name)
        _remove_if_present(meta)
        meta.mkdir(mode=0o700)
        private_files.write(meta / RECORD, json.dumps(record.to_dict(), indent=2))
        if record.database is not None:
            self._database().dump_tables(record.name, meta / DATABASE)
        return _tree_size(meta) + _tree_size(self.data_root / record.name)

    def list(self, app: str) -> list[Backup]:
        """Return the app's backups, newest first."""
        return [describe(s, app) for s in reversed(self.repository.snapshots(tag_of(app)))]

    def record_of(self, app: str, backup_id: str) -> dict[str, Any]:
        """Return the app record kept in a backup (its release, variables and storage limit)."""
        with self._unpacked(find(self.repository, app, backup_id), app, RECORD) as path:
            if path is None:
                raise BackupFailed(f"cadangan {backup_id} tidak memuat {RECORD}")
            return dict(json.loads(path.read_text()))

    def restore(self, source_app: str, backup_id: str, target: AppRecord) -> None:
        """Put a backup's data and database into `target` (its container stopped by the caller).

        `target` may be the app itself or a new app: the dump loads into the target's own
        database, as the target's own account.
        """
        snapshot = find(self.repository, source_app, backup_id)
        put_back_data(self.repository, snapshot, source_app, self.data_root / target.name)
        if target.database is None:
            return
        with self._unpacked(snapshot, source_app, DATABASE) as dump:
            if dump is not None:  # None: the app had no database when it was backed up
                self._database().load(target.name, target.database, dump)

    @contextlib.contextmanager
    def _unpacked(self, snapshot: dict[str, Any], app: str, name: str) -> Iterator[Path | None]:
        """Yield one staged file of `app` in a snapshot (None when it holds none), removed afterwards."""
        meta = meta_dir(app)
        stage = self.data_root / f"{meta}-restore-{secrets.token_hex(4)}"
        stage.mkdir(mode=0o700)
        try:
            self.repository.restore(snapshot["id"], stage, include=f"/{meta}/{name}")
            path = stage / meta / name
            yield path if path.is_file() and not path.is_symlink() else None
        finally:
            tenantfs.remove_tree(stage)

    def _database(self) -> Databases:
        if self.databases is None:
            raise BackupFailed("agen ini tidak terhubung ke MariaDB")
        return self.databases


def _release_of(record: AppRecord) -> int | None:
    return record.current.release_id if record.current is not None else None


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):  # os.walk never follows links to directories
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _remove_if_present(path: Path) -> None:
    if path.is_symlink() or path.exists():
        _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        tenantfs.remove_tree(path)
    else:
        path.unlink()


def _children(directory: Path) -> list[Path]:
    return sorted(Path(entry.path) for entry in os.scandir(directory))


def _iso(restic_time: str) -> str:
    # restic writes nanoseconds; Python reads at most microseconds.
    head, _, rest = restic_time.partition(".")
    if not rest:
        return datetime.fromisoformat(restic_time).isoformat()
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits):]
    return datetime.fromisoformat(f"{head}.{digits[:6]}{zone}").isoformat(timespec="seconds")
