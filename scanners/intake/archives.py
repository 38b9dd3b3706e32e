"""Which files are archives the intake unpacks: by their suffix, or by their content."""
from __future__ import annotations

import tarfile
import zipfile

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ARCHIVE_SUFFIXES = ZIP_SUFFIXES + TAR_SUFFIXES


def archive_kind(name: str) -> str | None:
    """Return "zip" or "tar" when `name` has an archive suffix the intake unpacks."""
    lower = name.lower()
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def sniff_archive(path: str) -> str | None:
    """Return the archive kind of a file with no archive suffix, judged by its content."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, tarfile.TarError):
        return None
    return None
