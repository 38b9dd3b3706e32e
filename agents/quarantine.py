"""Files taken out of a deployed app's served tree because the scanner found them malicious.

A quarantined file is moved out of the app's data (nginx and PHP no longer see it) into the agent's
state, with its bytes and metadata kept as evidence. A technician may release a false positive
(*pulihkan*: the file goes back where it was and its sha256 is allowed for that app from then on)
or delete the evidence (*hapus*).

Layout under the agent's state directory (0700, root only):

    quarantine/<app>/<id>/evidence      the file's bytes, 0600
    quarantine/<app>/<id>/record.json   path, sha256, size, mode, owner, mtime, findings, detected_at
    quarantine/<app>/allowed.json       sha256s released by a technician: never held again
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents import private_files, tenantfs
from agents.errors import HostOperationError
from agents.protocol import app_name

_CHUNK = 1024 * 1024
_ID_BYTES = 6


class QuarantineError(HostOperationError):
    """A quarantined file cannot be released or found; the message says why."""

    status = 409


@dataclass(frozen=True)
class Detection:
    """One finding on one file of a deployed app (relative to its data directory)."""

    rule: str
    engine: str
    severity: str
    message: str


@dataclass
class Held:
    """A file the agent took out of an app's tree, or reported without taking it."""

    id: str
    app: str
    path: str  # relative to the app's data directory, as the agent stores it
    served_path: str  # as the app sees it below its code root (writable roots unflattened)
    sha256: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    detected_at: str
    action: str  # "quarantined", "reported" (a finding not worth taking the file for), "released"
    findings: list[Detection] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Held:
        findings = [Detection(**f) for f in data.get("findings", [])]
        return cls(**{**data, "findings": findings})


def served_path(rel: str) -> str:
    """Return the path the app sees for `rel` (`wp-content%2Fuploads/x.php` → `wp-content/uploads/x.php`)."""
    top, _, rest = rel.partition("/")
    return "/".join(p for p in (top.replace("%2F", "/"), rest) if p)


def sha256_of(fd: int) -> str:
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, _CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


class Quarantine:
    """Holds, lists, releases and deletes the quarantined files of every app on one host."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def hold(self, app: str, data_dir: Path, rel: str, findings: list[Detection], *,
             expected_sha256: str | None = None) -> Held | None:
        """Move `rel` out of the app's data into quarantine and return the record.

        Returns None when the file is gone, is no longer a regular file, or no longer has the
        content that was scanned (`expected_sha256`): the tenant changed it, and the change is
        scanned on its own.
        """
        try:
            with tenantfs.opened_parent(data_dir, rel) as (parent, name):
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                                 dir_fd=parent)
                except (FileNotFoundError, OSError):
                    return None
                try:
                    info = os.fstat(fd)
                    if not stat.S_ISREG(info.st_mode):
                        return None
                    digest = sha256_of(fd)
                    if expected_sha256 is not None and digest != expected_sha256:
                        return None
                    held = self._new(app, rel, digest, info, findings, "quarantined")
                    folder = self._folder(app, held.id)
                    with open(folder / "evidence", "xb", opener=_private_opener) as evidence:
                        os.lseek(fd, 0, os.SEEK_SET)
                        while chunk := os.read(fd, _CHUNK):
                            evidence.write(chunk)
                    os.unlink(name, dir_fd=parent)  # the name, wherever the tenant moved things
                finally:
                    os.close(fd)
        except tenantfs.LinkRefused:
            return None
        self._save(held)
        return held

    def report(self, app: str, rel: str, sha256: str, size: int,
               findings: list[Detection]) -> Held:
        """Record a finding that leaves the file in place (review-level), for the panel to list."""
        info = os.stat_result((0o100644, 0, 0, 1, -1, -1, size, 0, 0, 0))
        held = self._new(app, rel, sha256, info, findings, "reported")
        self._folder(app, held.id)
        self._save(held)
        return held

    def records(self, app: str) -> list[Held]:
        """Return the app's records, newest first."""
        directory = self.root / app_name(app)
        if not directory.is_dir():
            return []
        found = []
        for entry in directory.iterdir():
            record = entry / "record.json"
            if entry.is_dir() and record.is_file():
                found.append(Held.from_dict(json.loads(record.read_text())))
        return sorted(found, key=lambda h: h.detected_at, reverse=True)

    def get(self, app: str, held_id: str) -> Held:
        if not held_id.isalnum():
            raise QuarantineError(f"temuan {held_id!r} tidak ada")
        record = self.root / app_name(app) / held_id / "record.json"
        if not record.is_file():
            raise QuarantineError(f"temuan {held_id} milik {app} tidak ada")
        return Held.from_dict(json.loads(record.read_text()))

    def release(self, app: str, held_id: str, data_dir: Path) -> Held:
        """Put a quarantined file back where it was and allow its content for the app from now on."""
        held = self.get(app, held_id)
        if held.action == "quarantined":
            evidence = self.root / app_name(app) / held_id / "evidence"
            try:
                with tenantfs.opened_parent(data_dir, held.path) as (parent, name):
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                    fd = os.open(name, flags, 0o600, dir_fd=parent)
                    with os.fdopen(fd, "wb") as out, evidence.open("rb") as source:
                        while chunk := source.read(_CHUNK):
                            out.write(chunk)
                        if os.geteuid() == 0:
                            os.fchown(out.fileno(), held.uid, held.gid)
                        os.fchmod(out.fileno(), stat.S_IMODE(held.mode))
            except FileExistsError:
                raise QuarantineError(f"{held.served_path} sudah ada lagi; berkas tidak ditimpa") from None
            except (FileNotFoundError, tenantfs.LinkRefused):
                raise QuarantineError(f"folder {held.served_path} tidak ada lagi") from None
        self._allow(app, held.sha256)
        held.action = "released"
        self._save(held)
        return held

    def delete(self, app: str, held_id: str) -> None:
        """Delete a record and its evidence for good."""
        self.get(app, held_id)
        tenantfs.remove_tree(self.root / app_name(app) / held_id)

    def allowed(self, app: str) -> set[str]:
        path = self.root / app_name(app) / "allowed.json"
        with contextlib.suppress(FileNotFoundError, ValueError):
            return set(json.loads(path.read_text()))
        return set()

    def forget_app(self, app: str) -> None:
        tenantfs.remove_tree(self.root / app_name(app))

    def _allow(self, app: str, sha256: str) -> None:
        allowed = self.allowed(app) | {sha256}
        private_files.write(self.root / app_name(app) / "allowed.json", json.dumps(sorted(allowed)))

    def _new(self, app: str, rel: str, digest: str, info: os.stat_result,
             findings: list[Detection], action: str) -> Held:
        return Held(id=secrets.token_hex(_ID_BYTES), app=app_name(app), path=rel,
                    served_path=served_path(rel), sha256=digest, size=info.st_size,
                    mode=info.st_mode, uid=info.st_uid, gid=info.st_gid, mtime=info.st_mtime,
                    detected_at=datetime.now(UTC).isoformat(timespec="seconds"), action=action,
                    findings=list(findings))

    def _folder(self, app: str, held_id: str) -> Path:
        folder = self.root / app_name(app) / held_id
        private_files.private_dir(folder)
        return folder

    def _save(self, held: Held) -> None:
        private_files.write(self.root / held.app / held.id / "record.json",
                            json.dumps(held.to_dict(), indent=2))


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW, 0o600)
