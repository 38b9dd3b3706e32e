"""What an app's own Dockerfile made: the files its layers add or change above the runtime image.

A Dockerfile app runs an image, not its bundle: whatever the build wrote (a `RUN` that decodes a
webshell, an `ADD` that unpacks an archive) runs too, so the panel scans it before it signs the
image. `changed_files` reads the image's own layers (the ones above its runtime image, as `docker
save` gives them, oldest first), applies them in order the way the storage driver does, and writes
the regular files that are left into a tar for the scanner. Deletions (whiteouts) are listed, not
shipped; links and device files are shipped as what they are, so that the scanner's intake refuses
them. A file byte-identical to the bundle's file at the same place under the app root was scanned
with the bundle and is left out, and counted.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from agents import defaults
from agents.errors import BuildFailed

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class OutputLimits:
    """Bounds on what a build may add: the agent's own limits on an unpacked bundle."""

    max_files: int = defaults.ARTIFACT_MAX_FILES
    max_bytes: int = defaults.ARTIFACT_MAX_BYTES
    max_entries: int = 4 * defaults.ARTIFACT_MAX_FILES  # layer members read, directories included
    max_listed: int = defaults.BUILD_REPORT_MAX_PATHS  # paths named in the report


@dataclass
class BuildOutput:
    """The tar of a build's own files, and what was left out of it."""

    sha256: str
    size: int
    files: int  # entries in the tar
    unchanged: int  # files left out: byte-identical to the bundle's file at the same place
    deleted: int  # paths the build removed from the runtime image or an earlier layer
    unchanged_paths: list[str] = field(default_factory=list)  # the first `max_listed` of each
    deleted_paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Entry:
    layer: int  # index into the layers
    member: tarfile.TarInfo


def changed_files(layers: list[Path], bundle: Path, destination: Path,
                  limits: OutputLimits | None = None) -> BuildOutput:
    """Write the files `layers` leave above their base into the tar `destination`; describe it.

    `bundle` is the unpacked bundle the image was built from (the build context); its files are
    what `COPY . <APP_MOUNT>` puts under the app root.
    """
    limits = limits or OutputLimits()
    entries, deleted = _final_state(layers, limits)
    app_root = defaults.APP_MOUNT.strip("/") + "/"
    unchanged: list[str] = []
    files = total = 0
    with contextlib.ExitStack() as stack:
        archives = [stack.enter_context(tarfile.open(layer, mode="r:")) for layer in layers]
        with tarfile.open(destination, mode="w", format=tarfile.PAX_FORMAT) as output:
            for path in sorted(entries):
                entry = entries[path]
                member = entry.member
                if member.isfile() or member.islnk():
                    archive = archives[entry.layer]
                    source = _resolve(archive, member)
                    if path.startswith(app_root) and _same_as_bundle(
                            archive, source, bundle, path[len(app_root):]):
                        unchanged.append(path)
                        continue
                    total += source.size
                    if total > limits.max_bytes or source.size > limits.max_bytes:
                        raise BuildFailed(f"berkas yang dibuat build melebihi batas "
                                          f"{limits.max_bytes} bita")
                    info = tarfile.TarInfo(path)
                    info.size, info.mode, info.mtime = source.size, source.mode & 0o777, member.mtime
                    handle = archive.extractfile(source)
                    assert handle is not None
                    with handle:
                        output.addfile(info, handle)
                else:
                    info = tarfile.TarInfo(path)
                    info.type, info.linkname = member.type, member.linkname
                    info.mode, info.mtime = member.mode & 0o777, member.mtime
                    info.devmajor, info.devminor = member.devmajor, member.devminor
                    output.addfile(info)
                files += 1
                if files > limits.max_files:
                    raise BuildFailed(f"build membuat lebih dari {limits.max_files} berkas")
    digest, size = _sha256(destination)
    ordered = sorted(deleted)
    return BuildOutput(sha256=digest, size=size, files=files, unchanged=len(unchanged),
                       deleted=len(ordered), unchanged_paths=unchanged[:limits.max_listed],
                       deleted_paths=ordered[:limits.max_listed])


def _final_state(layers: list[Path],
                 limits: OutputLimits) -> tuple[dict[str, _Entry], set[str]]:
    """Apply the layers in order: return the non-directory entries left, and what was deleted."""
    tree = _Tree()
    deleted: set[str] = set()
    seen = 0
    for index, layer in enumerate(layers):
        with tarfile.open(layer, mode="r:") as archive:
            for member in archive:
                seen += 1
                if seen > limits.max_entries:
                    raise BuildFailed(f"lapisan build memuat lebih dari {limits.max_entries} entri")
                path = _normalise(member.name)
                if path is None:
                    continue
                parent, name = posixpath.split(path)
                if name == OPAQUE:
                    # Everything below the directory comes from this layer on, or not at all.
                    tree.drop_below(parent)
                    deleted.add(f"{parent}/*" if parent else "*")
                    continue
                if name.startswith(WHITEOUT):
                    target = posixpath.join(parent, name[len(WHITEOUT):])
                    tree.drop(target)
                    deleted.add(target)
                    continue
                deleted.discard(path)
                if member.isdir():
                    tree.entries.pop(path, None)
                    tree.register(path)
                else:
                    tree.drop_below(path)  # a file where a directory was: its contents are gone
                    tree.register(path)
                    tree.entries[path] = _Entry(index, member)
    return tree.entries, deleted


class _Tree:
    """The paths the build's layers left so far, indexed by parent so a subtree drops cheaply."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.children: dict[str, set[str]] = {}

    def register(self, path: str) -> None:
        while path:
            parent = posixpath.dirname(path)
            siblings = self.children.setdefault(parent, set())
            if path in siblings:
                return
            siblings.add(path)
            path = parent

    def drop_below(self, path: str) -> None:
        pending = [path]
        while pending:
            for child in self.children.pop(pending.pop(), set()):
                self.entries.pop(child, None)
                pending.append(child)

    def drop(self, path: str) -> None:
        self.drop_below(path)
        self.entries.pop(path, None)
        self.children.get(posixpath.dirname(path), set()).discard(path)


def _normalise(name: str) -> str | None:
    """Return a layer member's path relative to the image root, or None for the root itself."""
    path = posixpath.normpath("/" + name).lstrip("/")
    if path in ("", "."):
        return None
    return path


def _resolve(archive: tarfile.TarFile, member: tarfile.TarInfo) -> tarfile.TarInfo:
    """Return the regular file a hard link in the same layer stands for (or `member` itself)."""
    if not member.islnk():
        return member
    target = archive.getmember(member.linkname)
    if not target.isfile():
        raise BuildFailed(f"tautan keras {member.name} di lapisan build tidak menunjuk berkas")
    return target


def _same_as_bundle(archive: tarfile.TarFile, member: tarfile.TarInfo, bundle: Path,
                    rel: str) -> bool:
    """Return whether the layer's file has exactly the bytes of the bundle's file at `rel`."""
    try:
        found = os.lstat(bundle.joinpath(*rel.split("/")))
    except (OSError, ValueError):
        return False
    if not stat.S_ISREG(found.st_mode) or found.st_size != member.size:
        return False
    handle = archive.extractfile(member)
    assert handle is not None
    with handle:
        ours = _stream_sha256(handle)
    with open(bundle.joinpath(*rel.split("/")), "rb", opener=_no_follow) as theirs:
        return _stream_sha256(theirs) == ours


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def _stream_sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(handle):
        digest.update(chunk)
    return digest.hexdigest()


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for chunk in _chunks(handle):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
