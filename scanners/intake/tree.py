"""What intake hands the scan: the regular files of one upload and where they are on disk."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field


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
    # False when `files` is only part of what lies under `roots` (the rest judged already).
    complete: bool = True

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)
