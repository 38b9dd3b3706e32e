"""The private directory archives are unpacked into, and the running totals the limits bound."""
from __future__ import annotations

import os
from typing import IO

from scanners.intake.limits import Limits, MiB, RejectedUpload
from scanners.intake.tree import Tree

_COPY_CHUNK = 1 * MiB


class CountingReader:
    """A read-only file wrapper that counts the compressed bytes consumed."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


class Sandbox:
    """Where one upload's archives are unpacked: files are created only inside it, within limits."""

    def __init__(self, limits: Limits, directory: str, tree: Tree) -> None:
        self.limits = limits
        self.root = os.path.realpath(directory)
        self.tree = tree
        self.total_bytes = 0
        self.extracted_dirs = 0

    # -- bookkeeping ---------------------------------------------------------------------------

    def count_file(self, display: str, size: int) -> None:
        """Count one more file of `size` bytes, refusing the upload when a limit is crossed."""
        if len(self.tree.files) + 1 > self.limits.max_files:
            raise RejectedUpload(
                "too_many_files", f"jumlah berkas melebihi batas {self.limits.max_files}", display
            )
        self._count_bytes(display, size)

    def _count_bytes(self, display: str, size: int) -> None:
        if size > self.limits.max_member_bytes:
            raise RejectedUpload(
                "too_large", f"berkas melebihi batas {self.limits.max_member_bytes} bita", display
            )
        self.total_bytes += size
        if self.total_bytes > self.limits.max_total_bytes:
            raise RejectedUpload(
                "too_large",
                f"ukuran total melebihi batas {self.limits.max_total_bytes} bita",
                display,
            )

    def new_extraction_dir(self) -> str:
        """Create and return a fresh directory for one archive's members."""
        path = os.path.join(self.root, f"x{self.extracted_dirs}")
        self.extracted_dirs += 1
        os.mkdir(path, 0o700)
        return path

    # -- writing members -----------------------------------------------------------------------

    def create(self, base: str, parts: list[str], display: str) -> int:
        """Open a new file at `parts` under `base` for writing, refusing overwrites and escapes."""
        parent = os.path.join(base, *parts[:-1])
        try:
            os.makedirs(parent, mode=0o700, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise RejectedUpload("duplicate_entry", "entri arsip saling menimpa", display) from exc
        real_parent = os.path.realpath(parent)
        if real_parent != base and not real_parent.startswith(base + os.sep):
            raise RejectedUpload("path_traversal", "entri arsip keluar dari sandbox", display)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(os.path.join(real_parent, parts[-1]), flags, 0o600)
        except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            raise RejectedUpload("duplicate_entry", "entri arsip saling menimpa", display) from exc

    def mkdir(self, base: str, parts: list[str], display: str) -> None:
        """Create the directory at `parts` under `base`."""
        if not parts:
            return
        try:
            os.makedirs(os.path.join(base, *parts), mode=0o700, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise RejectedUpload("duplicate_entry", "entri arsip saling menimpa", display) from exc

    def copy(self, src: IO[bytes], fd: int, declared: int, display: str,
             ratio: CountingReader | None = None, ratio_base: int = 0) -> int:
        """Copy a member into `fd`, refusing it when it holds other than the `declared` size."""
        written = 0
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = src.read(_COPY_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                if written > declared:
                    raise RejectedUpload(
                        "lying_entry", "isi anggota arsip lebih besar dari yang dinyatakan", display
                    )
                out.write(chunk)
                if ratio is not None:
                    self.check_stream_ratio(ratio, ratio_base + written, display)
        if written != declared:
            raise RejectedUpload(
                "lying_entry", "isi anggota arsip tidak sesuai ukuran yang dinyatakan", display
            )
        return written

    def check_stream_ratio(self, counter: CountingReader, produced: int, display: str) -> None:
        """Refuse a stream that has produced too many bytes for the compressed bytes it read."""
        if produced < self.limits.ratio_min_bytes:
            return
        if produced > self.limits.max_ratio * max(counter.count, 1):
            raise RejectedUpload(
                "ratio_exceeded",
                f"rasio kompresi melebihi batas {self.limits.max_ratio:g}",
                display,
            )
