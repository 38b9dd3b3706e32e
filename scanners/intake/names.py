"""Which names an upload may hold: none that escapes the sandbox or displays as something else."""
from __future__ import annotations

import unicodedata

from scanners.intake.limits import Limits, RejectedUpload

# Zero-width and bidirectional marks make a name display as something it is not.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def has_control_characters(name: str) -> bool:
    """Whether `name` holds control, format or invisible characters."""
    for ch in name:
        if ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return True
    return False


def member_parts(name: str, limits: Limits) -> list[str]:
    """Return the components of an archive member name, refusing any name that could escape."""
    if has_control_characters(name):
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
