"""Safe intake: turn an upload (directory, archive or file) into a tree of regular files to scan.

Archives are unpacked into a private sandbox (mode 0700) that is always removed afterwards.
Anything that could write outside the sandbox, hide a file from the scan or exhaust the machine
is refused with `RejectedUpload` before or while it is unpacked.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import shutil
import stat
import struct
import tarfile
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import IO, Any

logger = logging.getLogger(__name__)

MiB = 1024 * 1024

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ARCHIVE_SUFFIXES = ZIP_SUFFIXES + TAR_SUFFIXES

_COPY_CHUNK = 1 * MiB


@dataclass(frozen=True)
class Limits:
    """Bounds on what an upload may unpack to; every archive nested inside counts towards them."""

    max_total_bytes: int = 2048 * MiB
    max_files: int = 100_000
    max_member_bytes: int = 512 * MiB
    max_ratio: float = 100.0
    # Small members compress extremely well for honest reasons; only big ones can be bombs.
    ratio_min_bytes: int = 1 * MiB
    max_depth: int = 3
    max_path_length: int = 1024

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Limits:
        """Build limits from a policy table, keeping the defaults for keys it leaves out."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown intake limits: {', '.join(sorted(unknown))}")
        return cls(**{key: data[key] for key in data})


class RejectedUpload(Exception):
    """The upload is refused without scanning: it is unsafe to unpack or exceeds a limit."""

    def __init__(self, code: str, reason: str, member: str | None = None) -> None:
        self.code = code
        self.reason = reason
        self.member = member
        detail = f"{reason}: {member!r}" if member is not None else reason
        super().__init__(detail)

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class FileEntry:
    """A regular file of the upload: its display path, where it is on disk, and its size."""

    path: str
    fs_path: str
    size: int

    @functools.cached_property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Tree:
    """The files of one upload, ready to scan; `roots` are the directories that hold them."""

    source: str
    files: list[FileEntry] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)


@contextlib.contextmanager
def open_upload(
    path: str | os.PathLike[str], limits: Limits | None = None, workdir: str | None = None
) -> Iterator[Tree]:
    """Yield the tree of files in the upload at `path`, unpacking archives into a private sandbox."""
    sandbox = tempfile.mkdtemp(prefix="wadah-scan-", dir=workdir)
    try:
        yield _Intake(limits or Limits(), sandbox).load(os.fspath(path))
    finally:
        shutil.rmtree(sandbox, onerror=_log_rmtree_error)


def archive_kind(name: str) -> str | None:
    """Return "zip" or "tar" when `name` has an archive suffix the intake unpacks."""
    lower = name.lower()
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def _log_rmtree_error(function: Any, path: str, excinfo: Any) -> None:
    logger.error("could not remove %s from the scan sandbox: %s", path, excinfo[1])


# Zero-width and bidirectional marks make a name display as something it is not.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def _has_control_characters(name: str) -> bool:
    for ch in name:
        if ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return True
    return False


def member_parts(name: str, limits: Limits) -> list[str]:
    """Return the components of an archive member name, refusing any name that could escape."""
    if _has_control_characters(name):
        raise RejectedUpload("control_characters", "nama berkas mengandung karakter kendali", name)
    if len(name.encode("utf-8", "surrogateescape")) > limits.max_path_length:
        raise RejectedUpload("invalid_name", "nama berkas terlalu panjang", name)
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) >= 2 and unified[1] == ":" and unified[0].isalpha()):
        raise RejectedUpload("absolute_path", "path absolut di dalam arsip", name)
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise RejectedUpload("path_traversal", "path traversal ('..') di dalam arsip", name)
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise RejectedUpload("invalid_name", "komponen nama berkas terlalu panjang", name)
    return parts


class _CountingReader:
    """A read-only file wrapper that counts the compressed bytes consumed."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


class _Intake:
    def __init__(self, limits: Limits, sandbox: str) -> None:
        self.limits = limits
        self.sandbox = os.path.realpath(sandbox)
        self.tree: Tree | None = None
        self.total_bytes = 0
        self.extracted_dirs = 0

    # -- entry point -------------------------------------------------------------------------

    def load(self, path: str) -> Tree:
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise FileNotFoundError(f"upload not found: {path}") from exc
        tree = self.tree = Tree(source=path)
        if stat.S_ISLNK(st.st_mode):
            raise RejectedUpload("symlink", "unggahan berupa tautan simbolik", os.path.basename(path))
        if stat.S_ISDIR(st.st_mode):
            tree.roots.append(os.path.realpath(path))
            self._walk_directory(os.path.realpath(path), prefix="", depth=0)
        elif stat.S_ISREG(st.st_mode):
            kind = archive_kind(path) or _sniff_archive(path)
            if kind is None:
                self._add_file(os.path.basename(path), os.path.realpath(path), st.st_size, depth=0)
                tree.roots.append(os.path.realpath(path))
            else:
                self._extract(kind, path, prefix="", depth=0)
        else:
            raise RejectedUpload("special_file", "unggahan bukan berkas biasa", os.path.basename(path))
        if self.extracted_dirs:
            tree.roots.append(self.sandbox)
        return tree

    # -- bookkeeping ---------------------------------------------------------------------------

    def _count_file(self, display: str, size: int) -> None:
        assert self.tree is not None
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

    def _add_file(self, display: str, fs_path: str, size: int, depth: int) -> None:
        assert self.tree is not None
        self._count_file(display, size)
        self.tree.files.append(FileEntry(display, fs_path, size))
        kind = archive_kind(display)
        if kind is not None:
            self._extract(kind, fs_path, prefix=display + "!/", depth=depth + 1)

    def _new_extraction_dir(self) -> str:
        path = os.path.join(self.sandbox, f"x{self.extracted_dirs}")
        self.extracted_dirs += 1
        os.mkdir(path, 0o700)
        return path

    # -- directories ---------------------------------------------------------------------------

    def _walk_directory(self, root: str, prefix: str, depth: int) -> None:
        pending = [(root, prefix)]
        while pending:
            directory, rel = pending.pop()
            with os.scandir(directory) as listing:
                children = sorted(listing, key=lambda item: item.name)
            for child in children:
                display = rel + child.name
                if _has_control_characters(child.name):
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
        if depth > self.limits.max_depth:
            raise RejectedUpload(
                "nesting_too_deep",
                f"arsip bersarang melebihi kedalaman {self.limits.max_depth}",
                prefix.rstrip("!/") or os.path.basename(archive),
            )
        target = self._new_extraction_dir()
        label = prefix.rstrip("!/") or os.path.basename(archive)
        try:
            if kind == "zip":
                self._extract_zip(archive, target, prefix, depth, label)
            else:
                self._extract_tar(archive, target, prefix, depth, label)
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

    def _create(self, base: str, parts: list[str], display: str) -> int:
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

    def _mkdir(self, base: str, parts: list[str], display: str) -> None:
        if not parts:
            return
        try:
            os.makedirs(os.path.join(base, *parts), mode=0o700, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise RejectedUpload("duplicate_entry", "entri arsip saling menimpa", display) from exc

    def _copy(self, src: IO[bytes], fd: int, declared: int, display: str,
              ratio: _CountingReader | None = None, ratio_base: int = 0) -> int:
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
                    self._check_stream_ratio(ratio, ratio_base + written, display)
        if written != declared:
            raise RejectedUpload(
                "lying_entry", "isi anggota arsip tidak sesuai ukuran yang dinyatakan", display
            )
        return written

    def _check_stream_ratio(self, counter: _CountingReader, produced: int, display: str) -> None:
        if produced < self.limits.ratio_min_bytes:
            return
        if produced > self.limits.max_ratio * max(counter.count, 1):
            raise RejectedUpload(
                "ratio_exceeded",
                f"rasio kompresi melebihi batas {self.limits.max_ratio:g}",
                display,
            )

    # zip ---------------------------------------------------------------------------------------

    def _extract_zip(self, archive: str, target: str, prefix: str, depth: int, label: str) -> None:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            assert self.tree is not None
            if len(self.tree.files) + len(infos) > self.limits.max_files:
                raise RejectedUpload(
                    "too_many_files", f"jumlah berkas melebihi batas {self.limits.max_files}", label
                )
            if self.total_bytes + sum(info.file_size for info in infos) > self.limits.max_total_bytes:
                raise RejectedUpload(
                    "too_large",
                    f"ukuran total melebihi batas {self.limits.max_total_bytes} bita",
                    label,
                )
            _check_zip_layout(archive, zf, infos, label)
            seen: set[str] = set()
            checked: list[tuple[zipfile.ZipInfo, list[str], str]] = []
            for info in infos:
                parts = member_parts(info.filename, self.limits)
                display = prefix + "/".join(parts)
                self._check_zip_member(info, display)
                key = "/".join(parts)
                if not info.is_dir():
                    if key in seen:
                        raise RejectedUpload("duplicate_entry", "nama entri arsip ganda", display)
                    seen.add(key)
                checked.append((info, parts, display))
            # Every name and header is checked before the first byte is written.
            for info, parts, display in checked:
                if info.is_dir():
                    self._mkdir(target, parts, display)
                    continue
                if not parts:
                    continue
                fd = self._create(target, parts, display)
                with zf.open(info) as src:
                    self._copy(src, fd, info.file_size, display)
                self._add_file(display, os.path.join(target, *parts), info.file_size, depth)

    def _check_zip_member(self, info: zipfile.ZipInfo, display: str) -> None:
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode:
            if stat.S_ISLNK(mode):
                raise RejectedUpload("symlink", "tautan simbolik tidak diizinkan", display)
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise RejectedUpload(
                    "special_file", "berkas perangkat/FIFO/soket tidak diizinkan", display
                )
        if info.flag_bits & 0x41:
            raise RejectedUpload("encrypted", "anggota arsip terenkripsi tidak dapat diperiksa", display)
        if info.file_size > self.limits.max_member_bytes:
            raise RejectedUpload(
                "too_large", f"berkas melebihi batas {self.limits.max_member_bytes} bita", display
            )
        if info.file_size >= self.limits.ratio_min_bytes and (
            info.file_size > self.limits.max_ratio * max(info.compress_size, 1)
        ):
            raise RejectedUpload(
                "ratio_exceeded", f"rasio kompresi melebihi batas {self.limits.max_ratio:g}", display
            )

    # tar ---------------------------------------------------------------------------------------

    def _extract_tar(self, archive: str, target: str, prefix: str, depth: int, label: str) -> None:
        seen: set[str] = set()
        with open(archive, "rb") as raw:
            counter = _CountingReader(raw)
            # Stream mode reads the archive once, front to back, like the upload arrived.
            with tarfile.open(fileobj=counter, mode="r|*") as tf:  # type: ignore[call-overload]
                produced = 0
                for member in tf:
                    parts = member_parts(member.name, self.limits)
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
                        self._mkdir(target, parts, display)
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
                    self._count_file(display, member.size)
                    fd = self._create(target, parts, display)
                    src = tf.extractfile(member)
                    if src is None:
                        os.close(fd)
                        raise RejectedUpload(
                            "unsupported_member", "jenis anggota arsip tidak didukung", display
                        )
                    with src:
                        self._copy(src, fd, member.size, display, counter, produced)
                    produced += member.size
                    self._check_stream_ratio(counter, produced, display)
                    assert self.tree is not None
                    self.tree.files.append(
                        FileEntry(display, os.path.join(target, *parts), member.size)
                    )
                    kind = archive_kind(display)
                    if kind is not None:
                        self._extract(
                            kind, os.path.join(target, *parts), display + "!/", depth + 1
                        )


try:
    from lzma import LZMAError as _LzmaError
except ImportError:  # pragma: no cover - Python built without lzma
    class _LzmaError(Exception):  # type: ignore[no-redef]
        pass


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


def _check_zip_layout(archive: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo],
                      label: str) -> None:
    """Refuse zips whose entries overlap or whose local headers contradict the central directory."""
    size = os.path.getsize(archive)
    directory_start = getattr(zf, "start_dir", size)
    spans: list[tuple[int, int, str]] = []
    with open(archive, "rb") as raw:
        for info in infos:
            raw.seek(info.header_offset)
            header = raw.read(_LOCAL_HEADER.size)
            if len(header) != _LOCAL_HEADER.size:
                raise RejectedUpload("lying_entry", "header lokal zip terpotong", info.filename)
            (signature, _version, flags, method, _time, _date, _crc,
             csize, usize, name_len, extra_len) = _LOCAL_HEADER.unpack(header)
            if signature != _LOCAL_SIGNATURE:
                raise RejectedUpload(
                    "lying_entry", "offset entri zip tidak menunjuk ke header", info.filename
                )
            if method != info.compress_type:
                raise RejectedUpload("lying_entry", "metode kompresi zip saling bertentangan", info.filename)
            descriptor = flags & 0x08
            if not descriptor and csize != 0xFFFFFFFF and usize != 0xFFFFFFFF and (
                csize != info.compress_size or usize != info.file_size
            ):
                raise RejectedUpload("lying_entry", "ukuran entri zip saling bertentangan", info.filename)
            start = info.header_offset
            end = start + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
            if end > min(size, directory_start):
                raise RejectedUpload("lying_entry", "entri zip melampaui batas arsip", info.filename)
            spans.append((start, end, info.filename))
    spans.sort()
    for (_start, end, _name), (next_start, _end, next_name) in zip(spans, spans[1:], strict=False):
        if next_start < end:
            raise RejectedUpload("overlapping_entries", "entri zip saling tumpang-tindih", next_name)


def _sniff_archive(path: str) -> str | None:
    """Return the archive kind of a file with no archive suffix, judged by its content."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, tarfile.TarError):
        return None
    return None
