"""Opening an upload: walk a directory, take a single file, or unpack archives, nested ones too."""
from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from scanners.intake.archives import archive_kind, sniff_archive
from scanners.intake.limits import Limits, RejectedUpload
from scanners.intake.names import has_control_characters
from scanners.intake.sandbox import Sandbox
from scanners.intake.tar_reader import read_tar
from scanners.intake.tree import FileEntry, Tree
from scanners.intake.zip_reader import read_zip

logger = logging.getLogger(__name__)

try:
    from lzma import LZMAError as _LzmaError
except ImportError:  # pragma: no cover - Python built without lzma
    class _LzmaError(Exception):  # type: ignore[no-redef]
        pass


@contextlib.contextmanager
def open_upload(
    path: str | os.PathLike[str], limits: Limits | None = None, workdir: str | None = None
) -> Iterator[Tree]:
    """Yield the tree of files in the upload at `path`, unpacking archives into a private sandbox."""
    directory = tempfile.mkdtemp(prefix="wadah-scan-", dir=workdir)
    try:
        source = os.fspath(path)
        yield _Intake(Sandbox(limits or Limits(), directory, Tree(source=source))).load(source)
    finally:
        shutil.rmtree(directory, onerror=_log_rmtree_error)


def _log_rmtree_error(function: Any, path: str, excinfo: Any) -> None:
    logger.error("could not remove %s from the scan sandbox: %s", path, excinfo[1])


class _Intake:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    # -- entry point -------------------------------------------------------------------------

    def load(self, path: str) -> Tree:
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise FileNotFoundError(f"upload not found: {path}") from exc
        tree = self.sandbox.tree
        if stat.S_ISLNK(st.st_mode):
            raise RejectedUpload("symlink", "unggahan berupa tautan simbolik", os.path.basename(path))
        if stat.S_ISDIR(st.st_mode):
            tree.roots.append(os.path.realpath(path))
            self._walk_directory(os.path.realpath(path), prefix="", depth=0)
        elif stat.S_ISREG(st.st_mode):
            kind = archive_kind(path) or sniff_archive(path)
            if kind is None:
                self._add_file(os.path.basename(path), os.path.realpath(path), st.st_size, depth=0)
                tree.roots.append(os.path.realpath(path))
            else:
                self._extract(kind, path, prefix="", depth=0)
        else:
            raise RejectedUpload("special_file", "unggahan bukan berkas biasa", os.path.basename(path))
        if self.sandbox.extracted_dirs:
            tree.roots.append(self.sandbox.root)
        return tree

    # -- files -------------------------------------------------------------------------------

    def _add_file(self, display: str, fs_path: str, size: int, depth: int) -> None:
        self.sandbox.count_file(display, size)
        self._add_counted(FileEntry(display, fs_path, size), depth)

    def _add_counted(self, entry: FileEntry, depth: int) -> None:
        self.sandbox.tree.files.append(entry)
        kind = archive_kind(entry.path)
        if kind is not None:
            self._extract(kind, entry.fs_path, prefix=entry.path + "!/", depth=depth + 1)

    def _walk_directory(self, root: str, prefix: str, depth: int) -> None:
        pending = [(root, prefix)]
        while pending:
            directory, rel = pending.pop()
            with os.scandir(directory) as listing:
                children = sorted(listing, key=lambda item: item.name)
            for child in children:
                display = rel + child.name
                if has_control_characters(child.name):
                    raise RejectedUpload(
                        "control_characters", "nama berkas mengandung karakter kendali", display
                    )
                st = child.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise RejectedUpload("symlink", "tautan simbolik tidak diizinkan", display)
                if stat.S_ISDIR(st.st_mode):
                    pending.append((child.path, display + "/"))
                elif stat.S_ISREG(st.st_mode):
                    if st.st_nlink > 1:
                        raise RejectedUpload("hardlink", "tautan keras tidak diizinkan", display)
                    self._add_file(display, child.path, st.st_size, depth)
                else:
                    raise RejectedUpload(
                        "special_file", "berkas perangkat/FIFO/soket tidak diizinkan", display
                    )

    # -- archives ------------------------------------------------------------------------------

    def _extract(self, kind: str, archive: str, prefix: str, depth: int) -> None:
        limits = self.sandbox.limits
        if depth > limits.max_depth:
            raise RejectedUpload(
                "nesting_too_deep",
                f"arsip bersarang melebihi kedalaman {limits.max_depth}",
                prefix.rstrip("!/") or os.path.basename(archive),
            )
        target = self.sandbox.new_extraction_dir()
        label = prefix.rstrip("!/") or os.path.basename(archive)
        # Each member is taken into the tree as soon as it is written: nested archives open in turn.
        unpacked = functools.partial(self._add_counted, depth=depth)
        try:
            if kind == "zip":
                read_zip(self.sandbox, archive, target, prefix, label, unpacked)
            else:
                read_tar(self.sandbox, archive, target, prefix, unpacked)
        except RejectedUpload:
            raise
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, ValueError) as exc:
            raise RejectedUpload("corrupt_archive", f"arsip rusak atau tidak sah ({exc})", label) from exc
        except (NotImplementedError, RuntimeError) as exc:
            # zipfile raises these for unknown compression methods and encrypted members.
            raise RejectedUpload(
                "unsupported_member", f"anggota arsip tidak didukung ({exc})", label
            ) from exc
        except (OSError, _LzmaError) as exc:
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise  # the machine is out of space: an error of ours, not of the upload
            raise RejectedUpload("corrupt_archive", f"arsip tidak dapat dibuka ({exc})", label) from exc
