"""Safe intake: turn an upload (directory, archive or file) into a tree of regular files to scan.

Archives are unpacked into a private sandbox (mode 0700) that is always removed afterwards.
Anything that could write outside the sandbox, hide a file from the scan or exhaust the machine
is refused with `RejectedUpload` before or while it is unpacked.
"""
from __future__ import annotations

from scanners.intake.archives import ARCHIVE_SUFFIXES, TAR_SUFFIXES, ZIP_SUFFIXES, archive_kind
from scanners.intake.limits import Limits, MiB, RejectedUpload
from scanners.intake.names import member_parts
from scanners.intake.tree import FileEntry, Tree
from scanners.intake.upload import open_upload

__all__ = [
    "ARCHIVE_SUFFIXES",
    "TAR_SUFFIXES",
    "ZIP_SUFFIXES",
    "FileEntry",
    "Limits",
    "MiB",
    "RejectedUpload",
    "Tree",
    "archive_kind",
    "member_parts",
    "open_upload",
]
