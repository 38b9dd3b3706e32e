"""Recognising the PHP frameworks most hosted apps use, for their document root and writable paths.

Each app may override both; detection only supplies the defaults.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from agents.errors import InvalidRequest


@dataclass(frozen=True)
class Framework:
    name: str
    docroot: str  # relative to the app root; "." is the root itself
    writable_paths: tuple[str, ...]
    markers: tuple[str, ...]  # files that must all exist for the framework to be recognised


# In the order they are tried: the more specific first.
FRAMEWORKS: tuple[Framework, ...] = (
    Framework("laravel", "public", ("storage", "bootstrap/cache"),
              ("artisan", "bootstrap/app.php")),
    Framework("codeigniter4", "public", ("writable",), ("spark", "app/Config/App.php")),
    Framework("codeigniter3", ".", ("application/cache", "uploads"),
              ("system/core/CodeIgniter.php", "application/config/config.php")),
    Framework("wordpress", ".", ("wp-content/uploads",),
              ("wp-login.php", "wp-includes/version.php")),
)
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
GENERIC = Framework("generic", ".", (), ())


def detect(root: Path) -> Framework:
    """Return the framework whose marker files all exist under `root`, or the generic one."""
    for framework in FRAMEWORKS:
        if all((root / marker).is_file() for marker in framework.markers):
            return framework
    return GENERIC


def relative_path(value: str, *, allow_root: bool = False) -> str:
    """Return `value` normalised as a relative path inside the app, or raise InvalidRequest."""
    if not isinstance(value, str) or not value or "\\" in value or "\0" in value:
        raise InvalidRequest(f"jalur tidak sah: {value!r}")
    if value.startswith("/"):
        raise InvalidRequest(f"jalur harus relatif terhadap aplikasi: {value!r}")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise InvalidRequest(f"jalur tidak boleh keluar dari aplikasi: {value!r}")
    if any(not _SEGMENT.match(p) for p in parts):
        raise InvalidRequest(f"jalur hanya boleh berisi huruf, angka, '-', '_' dan '.': {value!r}")
    normal = posixpath.join(*parts) if parts else "."
    if normal == "." and not allow_root:
        raise InvalidRequest("seluruh aplikasi tidak boleh dapat ditulisi")
    return normal


def layout(root: Path, docroot: str | None,
           writable_paths: tuple[str, ...] | None) -> tuple[Framework, str, tuple[str, ...]]:
    """Return (framework, docroot, writable paths) of the app at `root`; overrides win."""
    framework = detect(root)
    chosen_docroot = relative_path(docroot if docroot is not None else framework.docroot,
                                   allow_root=True)
    chosen = writable_paths if writable_paths is not None else framework.writable_paths
    paths = tuple(dict.fromkeys(relative_path(p) for p in chosen))
    for path in paths:
        for other in paths:
            if path != other and other.startswith(path + "/"):
                raise InvalidRequest(f"jalur yang dapat ditulisi bertumpuk: {path!r} dan {other!r}")
    return framework, chosen_docroot, paths
