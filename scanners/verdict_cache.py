"""Findings remembered per file, so a new version of an app rescans only the files that changed.

An entry is keyed by the file's sha256, its path in the upload (names decide some findings) and the
scanner's fingerprint: the engines' code and versions, every rule file, the ClamAV signatures
(clamd's `VERSION` and the signature files) and the policy. Any change of those is another key, so
an old entry is never used. Each entry carries a digest of itself; an entry that does not match its
digest or cannot be read is ignored (the file is scanned again), never trusted.

The store is one SQLite file, owner-only (0600) in an owner-only directory (0700).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scanners.findings import Finding, Severity
from scanners.intake import FileEntry

logger = logging.getLogger(__name__)

DATABASE_NAME = "verdicts.sqlite3"
# Bump when what an entry holds changes shape.
FORMAT = "wadah-verdict-cache-1"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Findings that depend on the machine's load, not on the file: never remembered.
VOLATILE_RULES = frozenset({"yara_timeout", "bandit_timeout"})
_HASH_WORKERS = 4
_HASH_BATCH = 128
_SQLITE_TIMEOUT_SECONDS = 30.0


class CacheUnavailable(Exception):
    """The cache cannot be opened; the scan goes on without it."""


def code_digest() -> str:
    """Return a digest of the scanner's own code (engines, scan, findings, intake)."""
    digest = hashlib.sha256()
    for root, dirs, names in os.walk(PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, PACKAGE_DIR).encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def fingerprint(parts: Mapping[str, Any]) -> str:
    """Return the digest of the scanner's versions, rules, signatures and policy."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_files(entries: list[FileEntry]) -> dict[str, str]:
    """Return the sha256 of every entry's file, keyed by its path in the upload."""

    def some(batch: list[FileEntry]) -> list[str]:
        digests = []
        for entry in batch:
            with open(entry.fs_path, "rb", buffering=0) as handle:
                # file_digest lets go of the GIL while hashing: batches hash in parallel.
                digests.append(hashlib.file_digest(handle, "sha256").hexdigest())
        return digests

    batches = [entries[start:start + _HASH_BATCH] for start in range(0, len(entries), _HASH_BATCH)]
    with ThreadPoolExecutor(max_workers=_HASH_WORKERS, thread_name_prefix="sha256") as pool:
        digests = [digest for batch in pool.map(some, batches) for digest in batch]
    return dict(zip((entry.path for entry in entries), digests, strict=True))


def _owner_only_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise CacheUnavailable(f"{path} bukan direktori")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)


def _owner_only_file(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600))
    for name in (path, *(path.with_name(path.name + side) for side in ("-journal", "-wal"))):
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise CacheUnavailable(f"{name} tidak dapat dibuka: {exc}") from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CacheUnavailable(f"{name} bukan berkas biasa")
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)


class VerdictCache:
    """Findings per (scanner fingerprint, path, sha256), in an owner-only SQLite file."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / DATABASE_NAME
        self.hits = 0
        self.misses = 0
        self.corrupt = 0

    def _connect(self) -> sqlite3.Connection:
        try:
            _owner_only_dir(self.directory)
            _owner_only_file(self.path)
            connection = sqlite3.connect(self.path, timeout=_SQLITE_TIMEOUT_SECONDS)
            connection.execute("CREATE TABLE IF NOT EXISTS verdicts ("
                               "key TEXT PRIMARY KEY, findings TEXT NOT NULL, digest TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as exc:
            raise CacheUnavailable(f"cache {self.path} tidak dapat dipakai: {exc}") from exc
        return connection

    @staticmethod
    def key(scanner_fingerprint: str, path: str, sha256: str) -> str:
        """Return the entry key of one file for one scanner fingerprint."""
        text = f"{scanner_fingerprint}\0{path}\0{sha256}"
        return hashlib.sha256(text.encode()).hexdigest()

    @staticmethod
    def _digest(key: str, payload: str) -> str:
        return hashlib.sha256(f"{FORMAT}\0{key}\0{payload}".encode()).hexdigest()

    def lookup(self, scanner_fingerprint: str,
               hashes: Mapping[str, str]) -> dict[str, list[Finding]]:
        """Return the remembered findings of the files (path -> sha256) the cache knows."""
        keys = {self.key(scanner_fingerprint, path, sha): path for path, sha in hashes.items()}
        found: dict[str, list[Finding]] = {}
        connection = self._connect()
        try:
            rows: list[tuple[str, str, str]] = []
            names = list(keys)
            for start in range(0, len(names), 500):  # SQLite's bound-parameter limit
                chunk = names[start:start + 500]
                rows.extend(connection.execute(
                    f"SELECT key, findings, digest FROM verdicts WHERE key IN "  # noqa: S608
                    f"({','.join('?' * len(chunk))})", chunk).fetchall())
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"cache {self.path} tidak dapat dibaca: {exc}") from exc
        finally:
            connection.close()
        for key, payload, digest in rows:
            path = keys[key]
            findings = self._decode(key, payload, digest, path)
            if findings is None:
                self.corrupt += 1
                logger.warning("verdict cache entry for %s is corrupt; scanning the file", path)
                continue
            found[path] = findings
        self.hits += len(found)
        self.misses += len(hashes) - len(found)
        return found

    def _decode(self, key: str, payload: str, digest: str, path: str) -> list[Finding] | None:
        if not isinstance(payload, str) or self._digest(key, payload) != digest:
            return None
        try:
            items = json.loads(payload)
            return [Finding(engine=str(i["engine"]), rule=str(i["rule"]),
                            severity=Severity.parse(i["severity"]), path=path,
                            message=str(i["message"]),
                            line=int(i["line"]) if i.get("line") is not None else None,
                            snippet=str(i["snippet"]) if i.get("snippet") is not None else None)
                    for i in items]
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def store(self, scanner_fingerprint: str, hashes: Mapping[str, str],
              findings: Iterable[Finding]) -> int:
        """Remember the findings of the files (path -> sha256) just scanned; return how many."""
        by_path: dict[str, list[Finding]] = {path: [] for path in hashes}
        volatile: set[str] = set()
        for finding in findings:
            if finding.path in by_path:
                by_path[finding.path].append(finding)
                if finding.rule in VOLATILE_RULES:
                    volatile.add(finding.path)
        rows = []
        for path, items in by_path.items():
            if path in volatile:
                continue
            key = self.key(scanner_fingerprint, path, hashes[path])
            payload = json.dumps([{k: v for k, v in f.to_dict().items() if k != "path"}
                                  for f in items], sort_keys=True)
            rows.append((key, payload, self._digest(key, payload)))
        connection = self._connect()
        try:
            with connection:
                connection.executemany(
                    "INSERT OR REPLACE INTO verdicts (key, findings, digest) VALUES (?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"cache {self.path} tidak dapat ditulis: {exc}") from exc
        finally:
            connection.close()
        _owner_only_file(self.path)
        return len(rows)
