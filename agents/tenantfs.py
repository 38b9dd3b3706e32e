"""File operations of the agent (root) inside directories a tenant's code can write.

A hosted app can put any link, FIFO or file in its writable paths. Everything here walks such trees
one component at a time through directory file descriptors, opens with O_NOFOLLOW and acts on the
descriptor it checked, so a link where the agent expects a file or directory is never followed: it is
left alone (its subtree is skipped) and counted in the result.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agents import defaults

logger = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY_CHUNK = 1024 * 1024

# shutil.rmtree is only safe here where it removes through directory descriptors without following
# links; on a platform where it is not, refuse to run rather than delete a host's files.
if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - Linux has it
    raise ImportError("shutil.rmtree tidak aman terhadap symlink di platform ini")


class LinkRefused(OSError):
    """A link, or another kind of file, stands where the agent expects a directory it owns."""


@dataclass
class SeedReport:
    """What seeding a writable path created, and what it refused to follow."""

    created: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@contextlib.contextmanager
def opened_dir(path: Path) -> Iterator[int]:
    """Open an agent-owned directory (no component may be a link) and yield its descriptor."""
    fd = os.open("/", _DIR_FLAGS)
    try:
        for part in path.resolve(strict=False).parts[1:]:
            fd = _swap(fd, _open_child_dir(fd, part, create=True))
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def opened_parent(data: Path, rel: str) -> Iterator[tuple[int, str]]:
    """Yield a descriptor of the directory holding tenant path `rel` under `data`, and its last name.

    Every component below `data` is opened without following a link: a link planted in place of
    a directory raises LinkRefused instead of leading the agent elsewhere.
    """
    *parents, name = Path(rel).parts
    if not name or name in (".", "..") or any(p in ("..", "/") for p in parents):
        raise LinkRefused(errno.EINVAL, "jalur tidak sah", rel)
    with opened_dir(data) as top:
        fd = os.dup(top)
    try:
        for part in parents:
            fd = _swap(fd, _open_child_dir(fd, part, create=False))
        yield fd, name
    finally:
        os.close(fd)


def _swap(old: int, new: int) -> int:
    os.close(old)
    return new


def _open_child_dir(parent: int, name: str, *, create: bool, mode: int = 0o755) -> int:
    """Open directory `name` under `parent` without following a link; create it if asked."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, mode, dir_fd=parent)
        return _open_child_dir(parent, name, create=False)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise LinkRefused(exc.errno, "bukan direktori (tautan atau berkas)", name) from None
        raise


def _own(fd: int, mode: int) -> None:
    """Give the open file or directory to the app's user with `mode` (as root), through `fd`."""
    if os.geteuid() == 0:
        os.fchown(fd, defaults.APP_UID, defaults.APP_GID)
    os.fchmod(fd, mode)


def writable_root(data: Path, rel: str) -> Path:
    """Return the host directory holding writable path `rel` of an app whose data is `data`.

    Each writable path is a direct child of the app's data directory (`bootstrap/cache` becomes
    `bootstrap%2Fcache`: '%' never occurs in a path segment, so the mapping is injective). No
    component of a bind mount's source is then a directory the tenant can write, so nothing a tenant
    does can make Docker mount another host path when it (re)starts the container.
    """
    return data / rel.replace("/", "%2F")


def seed(source: Path, data: Path, rel: str) -> SeedReport:
    """Create the writable path `rel` under `data`, owned by the app's user, seeded from `source`.

    Directories the release ships at `source` are created where missing and its files copied where
    nothing exists under that name, so data written by earlier releases is never overwritten and no
    existing entry, of whatever kind, is opened for writing.
    """
    report = SeedReport()
    with opened_dir(data) as data_fd:
        _adopt_legacy(data_fd, rel)
        root = _open_child_dir(data_fd, writable_root(data, rel).name, create=True)
        try:
            _own(root, 0o755)
            if source.is_dir() and not source.is_symlink():
                _seed_tree(source, root, rel, report)
        finally:
            os.close(root)
    if report.refused:
        logger.warning("writable path %s: links or odd files left alone: %s", rel,
                       ", ".join(report.refused[:20]))
    return report


def _seed_tree(source: Path, target: int, where: str, report: SeedReport) -> None:
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        here = f"{where}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            try:
                child = _open_child_dir(target, entry.name, create=True)
            except LinkRefused:
                report.refused.append(here)
                continue
            try:
                _own(child, 0o755)
                _seed_tree(Path(entry.path), child, here, report)
            finally:
                os.close(child)
        elif entry.is_file(follow_symlinks=False):
            if _copy_new(Path(entry.path), target, entry.name):
                report.created.append(here)
            elif not stat.S_ISREG(os.stat(entry.name, dir_fd=target,
                                          follow_symlinks=False).st_mode):
                report.refused.append(here)


def _copy_new(source: Path, target_dir: int, name: str) -> bool:
    """Copy `source` to a new file `name` in `target_dir`; False if anything is there already."""
    try:
        fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=target_dir)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out, open(source, "rb") as src:  # noqa: PTH123
        shutil.copyfileobj(src, out, _COPY_CHUNK)
        _own(out.fileno(), 0o644)
    return True


def _adopt_legacy(data_fd: int, rel: str) -> None:
    """Move a nested writable path of the earlier layout (data/bootstrap/cache) to its flat name."""
    parts = rel.split("/")
    if len(parts) < 2:
        return
    flat = rel.replace("/", "%2F")
    with contextlib.suppress(FileNotFoundError):
        os.stat(flat, dir_fd=data_fd, follow_symlinks=False)
        return  # already laid out
    fd = os.dup(data_fd)
    try:
        for part in parts[:-1]:
            fd = _swap(fd, _open_child_dir(fd, part, create=False))
        if stat.S_ISDIR(os.stat(parts[-1], dir_fd=fd, follow_symlinks=False).st_mode):
            os.rename(parts[-1], flat, src_dir_fd=fd, dst_dir_fd=data_fd)
    except (FileNotFoundError, LinkRefused):
        pass
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Remove `path` and everything below it, never following a link inside it; log failures."""
    if path.is_symlink():
        path.unlink()
        return

    def failed(_function: object, where: str, info: tuple[type, BaseException, object]) -> None:
        if not isinstance(info[1], FileNotFoundError):
            logger.warning("could not remove %s: %s", where, info[1])

    shutil.rmtree(path, onerror=failed)
