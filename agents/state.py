"""The agent's desired state on disk: one JSON file per app, written atomically, plus file locks.

Layout of the state directory (mode 0700; the app files hold env values and database passwords):

    agent.json                  this agent's id (marks what it owns on the host)
    apps/<app>.json             an app's desired state (AppRecord)
    locks/<app>.lock            held during any operation on the app, across processes
    locks/<name>.lock           host-wide locks: ports, nginx, networks
    releases/<app>/<release>/   a release's unpacked code, mounted read-only into its container
    data/<app>/                 the mount point of the app's data volume (see agents/volumes.py)
    data/<app>/<path>/          the app's writable paths, kept across releases
    volumes/<app>.img           the app's data volume: a sparse ext4 image, its size the app's limit
    certs/<app>/                a per-app TLS certificate
    builds/<app>/<release>/     a Dockerfile app's build waiting for its deploy: build.json and
                                output.tar, the files the build made, for the panel to scan
    dumps/<app>-<time>.sql.gz   final database dumps of removed apps
    backups/                    the restic repository of the apps' backups, its key and cache
    quarantine/<app>/           files taken out of an app's data by the watcher (agents/watch.py)
    tls/                        the agent's own key and certificates (agents.credentials.AgentCredentials)

Every file holding a secret is 0600 and every directory here 0700; `StateStore` tightens what it
finds looser when it starts.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agents import defaults, private_files
from agents.errors import AppBusy, RuntimeUnavailable
from agents.protocol import AppSpec, app_name

RUNNING = "running"
STOPPED = "stopped"
REMOVED = "removed"  # being removed: reconcile finishes the job if the agent died half-way


@dataclass
class Instance:
    """One container running a release: a release gets a new instance when its env changes."""

    token: str
    port: int

    def container_name(self, app: str, release_id: int) -> str:
        return f"{defaults.NAME_PREFIX}-{app}-{release_id}-{self.token}"


@dataclass
class ReleaseRecord:
    release_id: int
    spec: AppSpec
    framework: str
    docroot: str
    writable_paths: tuple[str, ...]
    image: str
    base_stack: str  # "static" or "php": what the container is run as (a Dockerfile's FROM)
    directory: str  # the unpacked code on the host
    instance: Instance | None = None
    created_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseRecord:
        data = dict(data)
        data["spec"] = AppSpec.from_dict(data["spec"])
        data["writable_paths"] = tuple(data["writable_paths"])
        if data.get("instance") is not None:
            data["instance"] = Instance(**data["instance"])
        return cls(**data)


@dataclass
class DatabaseAccount:
    """The app's MariaDB database and the account that may use it."""

    database: str
    user: str
    password: str


@dataclass
class AppRecord:
    name: str
    fqdn: str
    desired: str = RUNNING
    env: dict[str, str] = field(default_factory=dict)
    upload_max_mb: int = defaults.UPLOAD_MAX_MB
    storage_mb: int = defaults.STORAGE_DEFAULT_MB  # the limit on its writable data (its volume's size)
    backup_hours: int = defaults.BACKUP_HOURS_DEFAULT  # how often it is backed up; 0: on demand only
    database: DatabaseAccount | None = None
    current: ReleaseRecord | None = None
    previous: list[ReleaseRecord] = field(default_factory=list)  # newest first, kept for rollback
    pending: ReleaseRecord | None = None  # being deployed; a leftover means the agent died mid-deploy

    def releases(self) -> list[ReleaseRecord]:
        """Return every release the app keeps, the pending one included."""
        found = [self.current] if self.current else []
        return found + list(self.previous) + ([self.pending] if self.pending else [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "fqdn": self.fqdn, "desired": self.desired, "env": self.env,
            "upload_max_mb": self.upload_max_mb, "storage_mb": self.storage_mb,
            "backup_hours": self.backup_hours,
            "database": asdict(self.database) if self.database else None,
            "current": self.current.to_dict() if self.current else None,
            "previous": [r.to_dict() for r in self.previous],
            "pending": self.pending.to_dict() if self.pending else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppRecord:
        return cls(
            name=data["name"], fqdn=data["fqdn"], desired=data["desired"], env=dict(data["env"]),
            upload_max_mb=data.get("upload_max_mb", defaults.UPLOAD_MAX_MB),
            storage_mb=data.get("storage_mb", defaults.STORAGE_DEFAULT_MB),
            backup_hours=data.get("backup_hours", defaults.BACKUP_HOURS_DEFAULT),
            database=DatabaseAccount(**data["database"]) if data.get("database") else None,
            current=ReleaseRecord.from_dict(data["current"]) if data.get("current") else None,
            previous=[ReleaseRecord.from_dict(r) for r in data.get("previous", [])],
            pending=ReleaseRecord.from_dict(data["pending"]) if data.get("pending") else None,
        )


SUBDIRS = ("apps", "locks", "releases", "data", "certs", "dumps", "tls")


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as found:
            return list(found)
    except FileNotFoundError:
        return []


class StateStore:
    """Reads and writes the agent's state directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        for sub in ("", *SUBDIRS):
            private_files.private_dir(self.root / sub)
        self._tighten_secrets()
        self._agent_id: str | None = None

    def _tighten_secrets(self) -> None:
        # What an older agent left readable: records, keys, ledgers, dumps. Never a tenant's tree
        # (releases/, data/): the agent does not walk what a tenant can write.
        for directory in (self.root, *(self.root / sub for sub in ("apps", "locks", "dumps", "tls"))):
            for entry in _entries(directory):
                if entry.is_file(follow_symlinks=False):
                    private_files.tighten(Path(entry.path))
        for entry in _entries(self.root / "certs"):
            if entry.is_dir(follow_symlinks=False):
                private_files.tighten(Path(entry.path), private_files.PRIVATE_DIR)
                for file in _entries(Path(entry.path)):
                    if file.is_file(follow_symlinks=False):
                        private_files.tighten(Path(file.path))

    # --- identity --------------------------------------------------------------------------------

    @property
    def agent_id(self) -> str:
        """Return this agent's id, created on first use and kept in agent.json."""
        if self._agent_id is None:
            path = self.root / "agent.json"
            with self.lock_host("identity"):
                if not path.exists():
                    private_files.write(path, json.dumps({"id": secrets.token_hex(6)}) + "\n")
                self._agent_id = str(json.loads(path.read_text())["id"])
        return self._agent_id

    # --- app records -----------------------------------------------------------------------------

    def _app_file(self, name: str) -> Path:
        return self.root / "apps" / f"{app_name(name)}.json"

    def names(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "apps").glob("*.json"))

    def load(self, name: str) -> AppRecord | None:
        try:
            text = self._app_file(name).read_text()
        except FileNotFoundError:
            return None
        return AppRecord.from_dict(json.loads(text))

    def save(self, record: AppRecord) -> None:
        private_files.write(self._app_file(record.name), json.dumps(record.to_dict(), indent=1) + "\n")

    def delete(self, name: str) -> None:
        self._app_file(name).unlink(missing_ok=True)

    # --- places ----------------------------------------------------------------------------------

    def release_dir(self, name: str, release_id: int) -> Path:
        return self.root / "releases" / app_name(name) / str(int(release_id))

    def releases_dir(self, name: str) -> Path:
        return self.root / "releases" / app_name(name)

    def data_dir(self, name: str) -> Path:
        return self.root / "data" / app_name(name)

    def certs_dir(self, name: str) -> Path:
        return self.root / "certs" / app_name(name)

    def builds_dir(self, name: str) -> Path:
        return self.root / "builds" / app_name(name)

    def build_dir(self, name: str, release_id: int) -> Path:
        return self.builds_dir(name) / str(int(release_id))

    @property
    def dumps_dir(self) -> Path:
        return self.root / "dumps"

    def prune_dumps(self, now: float, keep_s: float = defaults.DUMP_RETENTION_DAYS * 86400) -> list[str]:
        """Delete the final dumps of removed apps older than `keep_s`; return their names."""
        pruned = []
        for entry in os.scandir(self.dumps_dir):
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > keep_s:
                os.unlink(entry.path)
                pruned.append(entry.name)
        return sorted(pruned)

    # --- locks -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock_app(self, name: str, wait_s: float = defaults.APP_LOCK_WAIT_S) -> Iterator[None]:
        """Hold the app's lock (across processes); raise AppBusy if not free within `wait_s`."""
        with self._flock(self.root / "locks" / f"{app_name(name)}.lock", wait_s) as held:
            if not held:
                raise AppBusy(f"aplikasi {name} sedang diproses oleh operasi lain; coba lagi nanti")
            yield

    @contextlib.contextmanager
    def try_lock_app(self, name: str) -> Iterator[bool]:
        """Hold the app's lock if it is free now; yield whether it is held."""
        with self._flock(self.root / "locks" / f"{app_name(name)}.lock", 0.0) as held:
            yield held

    @contextlib.contextmanager
    def lock_host(self, what: str) -> Iterator[None]:
        """Hold a host-wide lock (ports, nginx, networks), waiting as long as it takes."""
        with self._flock(self.root / "locks" / f"{what}.lock", None):
            yield

    @contextlib.contextmanager
    def _flock(self, path: Path, wait_s: float | None) -> Iterator[bool]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = None if wait_s is None else time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                    break
                except BlockingIOError:
                    if deadline is None or time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- ports -----------------------------------------------------------------------------------

    def reserve_instance(self, record: AppRecord, release: ReleaseRecord) -> Instance:
        """Give `release` a new instance on a free loopback port; save `record` with it pending."""
        with self.lock_host("ports"):
            used = set()
            for name in self.names():
                other = record if name == record.name else self.load(name)
                for kept in other.releases() if other else []:
                    if kept.instance is not None:
                        used.add(kept.instance.port)
            # From a random point of the range, so that agents sharing a host (test runs) rarely
            # pick the same port before either has bound it.
            low, high = defaults.PORT_RANGE
            start = secrets.randbelow(high - low + 1)
            ports = [low + (start + i) % (high - low + 1) for i in range(high - low + 1)]
            port = next((p for p in ports if p not in used and port_free(p)), None)
            if port is None:
                raise RuntimeUnavailable("tidak ada port loopback yang bebas untuk kontainer")
            release.instance = Instance(token=secrets.token_hex(3), port=port)
            record.pending = release
            self.save(record)
            return release.instance


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether nothing listens on host:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
