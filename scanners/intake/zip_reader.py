"""Unpacking a zip archive: every name and header is checked before the first byte is written."""
from __future__ import annotations

import os
import stat
import struct
import zipfile
from collections.abc import Callable

from scanners.intake.limits import Limits, RejectedUpload
from scanners.intake.names import member_parts
from scanners.intake.sandbox import Sandbox
from scanners.intake.tree import FileEntry

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


def read_zip(sandbox: Sandbox, archive: str, target: str, prefix: str, label: str,
             unpacked: Callable[[FileEntry], None]) -> None:
    """Unpack the zip at `archive` into `target`, handing each file to `unpacked` once counted."""
    limits = sandbox.limits
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(sandbox.tree.files) + len(infos) > limits.max_files:
            raise RejectedUpload(
                "too_many_files", f"jumlah berkas melebihi batas {limits.max_files}", label
            )
        if sandbox.total_bytes + sum(info.file_size for info in infos) > limits.max_total_bytes:
            raise RejectedUpload(
                "too_large",
                f"ukuran total melebihi batas {limits.max_total_bytes} bita",
                label,
            )
        _check_layout(archive, zf, infos, label)
        seen: set[str] = set()
        checked: list[tuple[zipfile.ZipInfo, list[str], str]] = []
        for info in infos:
            parts = member_parts(info.filename, limits)
            display = prefix + "/".join(parts)
            _check_member(info, display, limits)
            key = "/".join(parts)
            if not info.is_dir():
                if key in seen:
                    raise RejectedUpload("duplicate_entry", "nama entri arsip ganda", display)
                seen.add(key)
            checked.append((info, parts, display))
        # Every name and header is checked before the first byte is written.
        for info, parts, display in checked:
            if info.is_dir():
                sandbox.mkdir(target, parts, display)
                continue
            if not parts:
                continue
            fd = sandbox.create(target, parts, display)
            with zf.open(info) as src:
                sandbox.copy(src, fd, info.file_size, display)
            sandbox.count_file(display, info.file_size)
            unpacked(FileEntry(display, os.path.join(target, *parts), info.file_size))


def _check_member(info: zipfile.ZipInfo, display: str, limits: Limits) -> None:
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
    if info.file_size > limits.max_member_bytes:
        raise RejectedUpload(
            "too_large", f"berkas melebihi batas {limits.max_member_bytes} bita", display
        )
    if info.file_size >= limits.ratio_min_bytes and (
        info.file_size > limits.max_ratio * max(info.compress_size, 1)
    ):
        raise RejectedUpload(
            "ratio_exceeded", f"rasio kompresi melebihi batas {limits.max_ratio:g}", display
        )


def _check_layout(archive: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo],
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
