"""Unpacking a tar archive, compressed or not, in one pass from front to back."""
from __future__ import annotations

import os
import tarfile
from collections.abc import Callable

from scanners.intake.limits import RejectedUpload
from scanners.intake.names import member_parts
from scanners.intake.sandbox import CountingReader, Sandbox
from scanners.intake.tree import FileEntry


def read_tar(sandbox: Sandbox, archive: str, target: str, prefix: str,
             unpacked: Callable[[FileEntry], None]) -> None:
    """Unpack the tar at `archive` into `target`, handing each file to `unpacked` once counted."""
    seen: set[str] = set()
    with open(archive, "rb") as raw:
        counter = CountingReader(raw)
        # Stream mode reads the archive once, front to back, like the upload arrived.
        with tarfile.open(fileobj=counter, mode="r|*") as tf:  # type: ignore[call-overload]
            produced = 0
            for member in tf:
                parts = member_parts(member.name, sandbox.limits)
                display = prefix + "/".join(parts)
                if member.issym():
                    raise RejectedUpload("symlink", "tautan simbolik tidak diizinkan", display)
                if member.islnk():
                    raise RejectedUpload("hardlink", "tautan keras tidak diizinkan", display)
                if member.ischr() or member.isblk() or member.isfifo():
                    raise RejectedUpload(
                        "special_file", "berkas perangkat/FIFO/soket tidak diizinkan", display
                    )
                if member.isdir():
                    sandbox.mkdir(target, parts, display)
                    continue
                if not member.isreg() or member.issparse():
                    raise RejectedUpload(
                        "unsupported_member", "jenis anggota arsip tidak didukung", display
                    )
                if not parts:
                    continue
                key = "/".join(parts)
                if key in seen:
                    raise RejectedUpload("duplicate_entry", "nama entri arsip ganda", display)
                seen.add(key)
                sandbox.count_file(display, member.size)
                fd = sandbox.create(target, parts, display)
                src = tf.extractfile(member)
                if src is None:
                    os.close(fd)
                    raise RejectedUpload(
                        "unsupported_member", "jenis anggota arsip tidak didukung", display
                    )
                with src:
                    sandbox.copy(src, fd, member.size, display, counter, produced)
                produced += member.size
                sandbox.check_stream_ratio(counter, produced, display)
                unpacked(FileEntry(display, os.path.join(target, *parts), member.size))
