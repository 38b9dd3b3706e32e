"""Files that hold secrets: created owner-only, replaced atomically, tightened when found loose.

Keys, certificates, app records (environment values, database passwords), the nonce and token
ledgers: the agent writes each through `write`, makes their directories with `private_dir`, opens
each SQLite file after `private_sqlite`, and `tighten`s what an older version left readable.
The panel uses them too (`panel.private_files`), for its instance folder.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


def write(path: Path, data: bytes | str, mode: int = PRIVATE_FILE, *, exclusive: bool = False) -> None:
    """Replace `path` with `data` atomically, the new file having exactly `mode` from its creation.

    With `exclusive`, an existing `path` is left alone and FileExistsError raised instead.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode & PRIVATE_FILE)  # never more open than 0600 while being written
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)  # exactly `mode`, whatever the umask
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails if `path` exists: the first writer wins, whole
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _sync_directory(path.parent)


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) owner-only, or take group and other access from it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    tighten(path, PRIVATE_DIR)
    return path


def private_sqlite(path: Path) -> Path:
    """Create the SQLite file `path` empty and owner-only unless it exists; tighten it and its side files.

    SQLite gives its journal and WAL files the database file's mode, so they follow.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         PRIVATE_FILE))
    tighten_sqlite(path)
    return path


def tighten_sqlite(path: Path) -> None:
    """Tighten the SQLite file `path` and its journal and WAL files, those that exist."""
    for name in (path, *(path.with_name(path.name + side) for side in SQLITE_SIDE_FILES)):
        tighten(name)


def tighten(path: Path, mode: int = PRIVATE_FILE) -> None:
    """Take from `path` every permission bit outside `mode`, if it exists; a link is never followed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as error:
        if error.errno == errno.ELOOP:  # a symbolic link: left alone
            return
        raise
    try:
        current = stat.S_IMODE(os.fstat(fd).st_mode)
        if current & ~mode:
            os.fchmod(fd, current & mode)
    finally:
        os.close(fd)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
