"""A release's files on the host: its artifact unpacked safely, its layout, its writable paths.

The code tree belongs to root and is mounted read-only; the writable paths live apart, under the
app's data directory, and are kept from one release to the next.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from agents import defaults, frameworks, tenantfs
from agents.errors import ArtifactRejected, BuildFailed
from agents.frameworks import Framework
from scanners.intake import Limits as IntakeLimits
from scanners.intake import RejectedUpload, open_upload


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


@dataclass(frozen=True)
class DockerfilePlan:
    """What an app's Dockerfile builds on: the runtime image of its final stage, and that stack."""

    base_image: str
    stack: str  # "static" or "php": how the container runs


def check_dockerfile(root: Path, dockerfile: str) -> DockerfilePlan:
    """Check an app's Dockerfile before it is built; raise BuildFailed if it may not be.

    Every FROM names an allowed local runtime image or an earlier stage. Nothing may reach the
    network or the host's other images (ADD of a URL, COPY --from an image, RUN --network or
    --mount), ask for privileges (RUN --security), or use syntax only BuildKit understands
    (parser directives, heredocs, flags the classic builder lacks), which it would misread.
    """
    rel = frameworks.relative_path(dockerfile)
    path = root.joinpath(*rel.split("/"))
    if not path.is_file():
        raise ArtifactRejected(f"artefak tidak memuat {rel}")
    lines = path.read_text(errors="replace").splitlines()
    _check_directives(lines, rel)
    stages: dict[str, str] = {}  # stage name → the runtime image it starts from
    roots: list[str] = []  # per stage, in order
    for number, instruction in _instructions(lines):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        where = f"{rel} baris {number}"
        if keyword == "FROM":
            roots.append(_from(rest.strip(), stages, where))
            continue
        if not roots and keyword != "ARG":  # an ARG before FROM is for FROM lines, which take none
            raise BuildFailed(f"{where}: instruksi sebelum FROM tidak diizinkan")
        if keyword == "ONBUILD":
            raise BuildFailed(f"{where}: ONBUILD tidak diizinkan")
        if keyword in ("RUN", "COPY", "ADD") and _HEREDOC.search(rest):
            raise BuildFailed(f"{where}: heredoc (<<) hanya dikenal BuildKit dan tidak diizinkan")
        if keyword == "RUN":
            _check_run_flags(_flags(rest)[0], where)
        elif keyword in ("COPY", "ADD"):
            _check_copy(keyword, rest, len(roots) - 1, stages, where)
    if not roots:
        raise BuildFailed(f"{rel} tidak memiliki FROM")
    # The final stage decides how the container runs.
    return DockerfilePlan(base_image=roots[-1], stack=defaults.DOCKERFILE_BASE_STACK[roots[-1]])


def dockerfile_base(root: Path, dockerfile: str) -> str:
    """Return the runtime stack an app's Dockerfile builds on; raise BuildFailed if not allowed."""
    return check_dockerfile(root, dockerfile).stack


_DIRECTIVE = re.compile(r"^#\s*(syntax|escape|check)\s*=", re.IGNORECASE)
# `<<EOF`, `<<-EOF`, `<<"EOF"`, but not a shell's here-string `<<<`
_HEREDOC = re.compile(r"(?<!<)<<(?!<)-?\s*[\"']?[A-Za-z_]")
_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|git@)")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
_COPY_FLAGS = {"COPY": ("--chown", "--from"), "ADD": ("--chown",)}


def _check_directives(lines: list[str], rel: str) -> None:
    # `# escape=` would change how lines continue, `# syntax=` asks for another frontend.
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#"):
            return
        if _DIRECTIVE.match(text):
            raise BuildFailed(f"{rel}: arahan parser ({text}) tidak diizinkan")


def _instructions(lines: list[str]) -> list[tuple[int, str]]:
    """Return (first line number, instruction) pairs, continued lines joined, comments dropped."""
    found: list[tuple[int, str]] = []
    current: str | None = None
    start = 0
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue  # Docker drops comments and blank lines, inside a continuation too
        if current is None:
            current, start = "", number
        if text.endswith("\\"):
            current += text[:-1] + " "
            continue
        found.append((start, current + text))
        current = None
    if current:
        found.append((start, current.strip()))
    return found


def _flags(rest: str) -> tuple[list[str], str]:
    """Split an instruction's leading `--flag[=value]` words from its arguments."""
    words = rest.split()
    flags = []
    while words and words[0].startswith("--"):
        flags.append(words.pop(0))
    return flags, " ".join(words)


def _from(rest: str, stages: dict[str, str], where: str) -> str:
    words = rest.split()
    if not words or any(w.startswith("--") for w in words) or "$" in rest:
        raise BuildFailed(f"{where}: FROM dengan opsi atau variabel tidak diizinkan: FROM {rest}")
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise BuildFailed(f"{where}: nama tahap {words[2]!r} tidak sah")
    elif len(words) == 1:
        name = None
    else:
        raise BuildFailed(f"{where}: baris FROM tidak dikenal: FROM {rest}")
    image = words[0]
    if image.lower() in stages and image not in defaults.ALLOWED_BASE_IMAGES:
        root = stages[image.lower()]
    elif image in defaults.ALLOWED_BASE_IMAGES:
        root = image
    else:
        raise BuildFailed(f"{where}: image dasar {image!r} tidak diizinkan; gunakan salah satu dari "
                          f"{', '.join(sorted(defaults.ALLOWED_BASE_IMAGES))}")
    if name is not None:
        stages[name] = root
    return root


def _check_run_flags(flags: list[str], where: str) -> None:
    for flag in flags:
        option = flag.split("=", 1)[0].lower()
        if option == "--network":
            raise BuildFailed(f"{where}: RUN {option} tidak diizinkan: build selalu berjalan tanpa "
                              f"jaringan")
        if option == "--security":
            raise BuildFailed(f"{where}: RUN {option} tidak diizinkan: build tidak pernah berjalan "
                              f"dengan hak istimewa")
        if option == "--mount":
            raise BuildFailed(f"{where}: RUN {option} tidak diizinkan: rahasia, kunci SSH, cache "
                              f"dan mount lain tidak tersedia saat build")
        raise BuildFailed(f"{where}: opsi RUN {option} hanya dikenal BuildKit dan tidak diizinkan")


def _check_copy(keyword: str, rest: str, stage: int, stages: dict[str, str], where: str) -> None:
    if "$" in rest:
        raise BuildFailed(f"{where}: variabel ($) tidak diizinkan pada {keyword}")
    flags, arguments = _flags(rest)
    for flag in flags:
        option, _, value = flag.partition("=")
        option = option.lower()
        if option not in _COPY_FLAGS[keyword]:
            raise BuildFailed(f"{where}: opsi {keyword} {option} tidak diizinkan (hanya dikenal "
                              f"BuildKit atau mengambil dari luar bundel)")
        if option == "--from" and not (value.lower() in stages
                                       or value.isdigit() and int(value) < stage):
            raise BuildFailed(f"{where}: {keyword} --from hanya boleh menyebut tahap sebelumnya di "
                              f"Dockerfile yang sama, bukan image lain: {value!r}")
    if arguments.startswith("["):
        try:
            words = json.loads(arguments)
        except ValueError as exc:
            raise BuildFailed(f"{where}: argumen {keyword} bukan larik JSON yang sah") from exc
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise BuildFailed(f"{where}: argumen {keyword} bukan larik teks")
    else:
        words = arguments.split()
    if len(words) < 2:
        raise BuildFailed(f"{where}: {keyword} memerlukan sumber dan tujuan")
    for source in words[:-1]:
        if _URL.match(source.strip()):
            raise BuildFailed(f"{where}: {keyword} dari URL tidak diizinkan ({source}): build tidak "
                              f"boleh mengambil berkas dari jaringan; masukkan berkas ke dalam "
                              f"bundel")


def forget(directory: Path) -> None:
    """Remove a release's code tree."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(directory)
