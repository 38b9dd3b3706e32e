"""A release's files on the host: its artifact unpacked safely, its layout, its writable paths.

The code tree belongs to root and is mounted read-only; the writable paths live apart, under the
app's data directory, and are kept from one release to the next.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from pathlib import Path

from agents import defaults, frameworks, tenantfs
from agents.errors import ArtifactRejected, BuildFailed
from agents.frameworks import Framework
from scanners.intake import Limits as IntakeLimits
from scanners.intake import RejectedUpload, open_upload

_FROM = re.compile(r"^\s*FROM\s+(?P<rest>.+?)\s*$", re.IGNORECASE)
_LINE_CONTINUATION = re.compile(r"\\\s*\n")


def unpack(artifact: Path, parent: Path, name: str, docroot: str | None = None) -> Path:
    """Unpack the archive `artifact` into `parent/name` and return that directory.

    The intake refuses traversal, links, device files and archive bombs. When the archive holds a
    single top-level directory (and that is not the docroot asked for), it becomes the app root.
    """
    parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    work = parent / f".unpack-{secrets.token_hex(4)}"
    work.mkdir(mode=0o700)
    try:
        staging = work / "tree"
        staging.mkdir()
        limits = IntakeLimits(max_total_bytes=defaults.ARTIFACT_MAX_BYTES,
                              max_files=defaults.ARTIFACT_MAX_FILES)
        try:
            with open_upload(artifact, limits=limits, workdir=str(work)) as tree:
                if str(artifact.resolve()) in tree.roots:
                    raise ArtifactRejected("artefak bukan arsip zip atau tar")
                for entry in tree.files:
                    if "!/" in entry.path:
                        continue  # inside a nested archive: scanned, but deployed as the archive
                    destination = staging.joinpath(*entry.path.split("/"))
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(entry.fs_path, destination)
        except RejectedUpload as exc:
            raise ArtifactRejected(f"artefak ditolak: {exc}") from exc
        root = staging
        children = list(staging.iterdir())
        wanted = frameworks.relative_path(docroot, allow_root=True) if docroot else None
        if len(children) == 1 and children[0].is_dir() \
                and not (wanted and wanted != "." and (staging / wanted).is_dir()):
            root = children[0]
        _normalise_modes(root)
        target = parent / name
        os.rename(root, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _normalise_modes(root: Path) -> None:
    """Make the tree root-owned and world-readable, with no write or execute bits for others."""
    as_root = os.geteuid() == 0
    for directory, _dirs, files in os.walk(root):
        entries = [(directory, 0o755)] + [(os.path.join(directory, n), 0o644) for n in files]
        for path, mode in entries:
            if as_root:
                os.lchown(path, 0, 0)
            os.chmod(path, mode)


def layout(root: Path, stack: str, docroot: str | None,
           writable_paths: tuple[str, ...] | None) -> tuple[Framework, str, tuple[str, ...]]:
    """Return (framework, docroot, writable paths) for the unpacked app, preparing mount points."""
    paths: tuple[str, ...] = ()
    if stack == "static":
        chosen = frameworks.relative_path(docroot or ".", allow_root=True)
        if writable_paths:
            raise ArtifactRejected("situs statis tidak memiliki jalur yang dapat ditulisi")
        framework = frameworks.GENERIC
    else:
        framework, chosen, paths = frameworks.layout(root, docroot, writable_paths)
    if not (root / chosen).is_dir():
        raise ArtifactRejected(f"document root {chosen!r} tidak ada di dalam artefak")
    for rel in paths:
        path = root / rel
        if path.exists() and not path.is_dir():
            raise ArtifactRejected(f"jalur yang dapat ditulisi {rel!r} bukan direktori")
        # The mount point must exist: the code tree is read-only inside the container.
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
    return framework, chosen, paths


def seed_writable(code: Path, data: Path, paths: tuple[str, ...]) -> dict[str, Path]:
    """Create each writable path under `data` (owned by the app user); return {path: host dir}.

    Directories the release ships inside a writable path are created when missing, and its files
    copied when missing, so the app finds its skeleton (Laravel's storage/framework/…) while data
    written by earlier releases is never overwritten. The tenant's own links are never followed.
    """
    mounts = {}
    for rel in paths:
        tenantfs.seed(code.joinpath(*rel.split("/")), data, rel)
        mounts[rel] = tenantfs.writable_root(data, rel)
    return mounts


def dockerfile_base(root: Path, dockerfile: str) -> str:
    """Return the runtime stack an app's Dockerfile builds on; raise BuildFailed if not allowed.

    Every FROM must name an allowed local runtime image or an earlier stage of the same file.
    """
    rel = frameworks.relative_path(dockerfile)
    path = root.joinpath(*rel.split("/"))
    if not path.is_file():
        raise ArtifactRejected(f"artefak tidak memuat {rel}")
    text = _LINE_CONTINUATION.sub(" ", path.read_text(errors="replace"))
    stages: set[str] = set()
    bases: list[str] = []
    for line in text.splitlines():
        match = _FROM.match(line)
        if not match:
            continue
        words = match["rest"].split()
        if any(w.startswith("--") for w in words) or "$" in match["rest"]:
            raise BuildFailed(f"FROM dengan opsi atau variabel tidak diizinkan: {line.strip()}")
        image = words[0]
        if len(words) == 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        elif len(words) != 1:
            raise BuildFailed(f"baris FROM tidak dikenal: {line.strip()}")
        if image.lower() in stages and image not in defaults.ALLOWED_BASE_IMAGES:
            continue
        if image not in defaults.ALLOWED_BASE_IMAGES:
            raise BuildFailed(f"image dasar {image!r} tidak diizinkan; gunakan salah satu dari "
                              f"{', '.join(sorted(defaults.ALLOWED_BASE_IMAGES))}")
        bases.append(image)
    if not bases:
        raise BuildFailed(f"{rel} tidak memiliki FROM")
    # The final stage decides how the container runs.
    return defaults.DOCKERFILE_BASE_STACK[bases[-1]]


def forget(directory: Path) -> None:
    """Remove a release's code tree."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(directory)
