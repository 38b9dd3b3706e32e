"""Runtime images built on the host from the recipes in `images/`: mmdebstrap, then docker import.

No image registry is reachable from a Pemda data center, so each runtime image (`wadah/static`,
`wadah/php:8.2`) is made from a Debian root file system.  A recipe is a directory holding a
`recipe.toml` (tag, suite, packages, user, port, environment), the files copied into the image
and the mmdebstrap hook scripts that copy them.  The image carries the digest of its recipe as a
label; an image is built only when its tag is missing or carries another digest, and the root
file system tarball is kept under the state directory so that a wiped Docker data root is
refilled without downloading again.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import stat
import subprocess
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

logger = logging.getLogger(__name__)

# Part of every recipe digest: bump it when the way a recipe becomes an image changes, so that
# every image is rebuilt.
BUILDER_VERSION = "1"
RECIPE_LABEL = "org.wadah.recipe"
NAME_LABEL = "org.wadah.image"
RUNTIME_IMAGES: tuple[str, ...] = ("static", "php")
# Inside the installed package (setup.py copies them there), else the checkout's top-level folder.
_PACKAGED_RECIPES = Path(__file__).resolve().parent / "recipes"
RECIPES_DIR = (_PACKAGED_RECIPES if _PACKAGED_RECIPES.is_dir()
               else Path(__file__).resolve().parent.parent / "images")
RECIPE_FILE = "recipe.toml"
MMDEBSTRAP = "mmdebstrap"
# Where Debian's mmdebstrap keeps its hook directories (a recipe's `mmdebstrap_hook_dirs`).
MMDEBSTRAP_HOOKS_DIR = Path("/usr/share/mmdebstrap/hooks")
# The PHP root file system takes a few minutes from a nearby mirror; a stuck download must not
# hang the agent forever.
BUILD_TIMEOUT_SECONDS = 30 * 60
STATE_DIR_ENV = "WADAH_STATE_DIR"
DEFAULT_STATE_DIR = Path("~/.local/state/wadah")
CACHE_SUBDIR = "images"
VARIANTS = frozenset({"extract", "custom", "essential", "apt", "required", "minbase"})

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_SOURCE = re.compile(r"^deb (\[[^\]\n]*\] )?https?://[^\s]+ [a-z0-9-]+( [a-z0-9-]+)+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTAINER_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
_DPKG_OPTION = re.compile(r"^path-(exclude|include)=/[A-Za-z0-9._/*?\[\]-]+$")


class RecipeError(ValueError):
    """A recipe directory is missing or its recipe.toml is not valid."""


class ImageBuildError(RuntimeError):
    """Building or importing a runtime image failed."""


@dataclass(frozen=True)
class ImageUser:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class Recipe:
    """What `images/<name>/recipe.toml` says an image is."""

    name: str
    directory: Path
    tag: str
    suite: str
    variant: str
    sources: tuple[str, ...]
    packages: tuple[str, ...]
    user: ImageUser
    port: int
    workdir: str
    cmd: tuple[str, ...]
    entrypoint: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    hook_dir: str | None = None
    mmdebstrap_hook_dirs: tuple[str, ...] = ()
    dpkg_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageInfo:
    """A runtime image present in Docker, and whether this call had to build it."""

    name: str
    tag: str
    id: str
    digest: str
    built: bool


def load_recipe(name: str, recipes_dir: Path | None = None) -> Recipe:
    """Read and check the recipe of the runtime image `name`."""
    if not _NAME.match(name):
        raise RecipeError(f"not an image name: {name!r}")
    directory = (recipes_dir or RECIPES_DIR) / name
    try:
        with open(directory / RECIPE_FILE, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as e:
        raise RecipeError(f"no recipe for image {name!r} in {directory}") from e
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{directory / RECIPE_FILE}: {e}") from e
    try:
        return _recipe_from_toml(name, directory, data)
    except (KeyError, TypeError) as e:
        raise RecipeError(f"{directory / RECIPE_FILE}: missing or wrong field {e}") from e


def _recipe_from_toml(name: str, directory: Path, data: dict) -> Recipe:
    user = data["user"]
    container = data["container"]
    recipe = Recipe(
        name=name,
        directory=directory,
        tag=str(data["tag"]),
        suite=str(data["suite"]),
        variant=str(data["variant"]),
        sources=tuple(str(s) for s in data["sources"]),
        packages=tuple(str(p) for p in data["packages"]),
        user=ImageUser(name=str(user["name"]), uid=int(user["uid"]), gid=int(user["gid"])),
        port=int(container["port"]),
        workdir=str(container["workdir"]),
        cmd=tuple(str(a) for a in container["cmd"]),
        entrypoint=tuple(str(a) for a in container.get("entrypoint", ())),
        env={str(k): str(v) for k, v in container.get("env", {}).items()},
        hook_dir=data.get("hook_dir"),
        mmdebstrap_hook_dirs=tuple(str(h) for h in data.get("mmdebstrap_hook_dirs", ())),
        dpkg_options=tuple(str(o) for o in data.get("dpkg_options", ())),
    )
    _check_recipe(recipe)
    return recipe


def _check_recipe(recipe: Recipe) -> None:
    where = recipe.directory / RECIPE_FILE
    problems = _system_problems(recipe) + _container_problems(recipe) + _hook_problems(recipe)
    if problems:
        raise RecipeError(f"{where}: " + "; ".join(problems))


def _system_problems(recipe: Recipe) -> list[str]:
    """Return what is wrong with the image's tag and the Debian system it is made of."""
    problems = []
    if not _TAG.match(recipe.tag):
        problems.append(f"tag {recipe.tag!r} is not repository:tag")
    if not _NAME.match(recipe.suite):
        problems.append(f"suite {recipe.suite!r}")
    if recipe.variant not in VARIANTS:
        problems.append(f"variant {recipe.variant!r} is not one of {sorted(VARIANTS)}")
    if not recipe.sources:
        problems.append("no sources")
    problems += [f"source {s!r}" for s in recipe.sources if not _SOURCE.match(s)]
    if not recipe.packages:
        problems.append("no packages")
    problems += [f"package {p!r}" for p in recipe.packages if not _PACKAGE.match(p)]
    return problems


def _container_problems(recipe: Recipe) -> list[str]:
    """Return what is wrong with how a container of the image runs: user, port, directory, command, env."""
    problems = []
    if not _NAME.match(recipe.user.name) or recipe.user.uid <= 0 or recipe.user.gid <= 0:
        problems.append("user must be a named, unprivileged uid and gid")
    if not 1024 <= recipe.port <= 65535:
        problems.append(f"port {recipe.port} must be unprivileged (1024-65535)")
    if not _CONTAINER_PATH.match(recipe.workdir):
        problems.append(f"workdir {recipe.workdir!r}")
    if not recipe.cmd:
        problems.append("no cmd")
    for key, value in recipe.env.items():
        if not _ENV_NAME.match(key) or "\n" in value:
            problems.append(f"env {key!r}")
    if "WADAH_PORT" in recipe.env and recipe.env["WADAH_PORT"] != str(recipe.port):
        problems.append("env WADAH_PORT differs from container.port")
    return problems


def _hook_problems(recipe: Recipe) -> list[str]:
    """Return what is wrong with the recipe's hooks and dpkg options."""
    problems = []
    if recipe.hook_dir is not None and not (recipe.directory / recipe.hook_dir).is_dir():
        problems.append(f"hook_dir {recipe.hook_dir!r} is not a directory of the recipe")
    problems += [
        f"mmdebstrap hook dir {h!r}"
        for h in recipe.mmdebstrap_hook_dirs
        if not _NAME.match(h) or not (MMDEBSTRAP_HOOKS_DIR / h).is_dir()
    ]
    problems += [f"dpkg option {o!r}" for o in recipe.dpkg_options if not _DPKG_OPTION.match(o)]
    return problems


def recipe_digest(directory: Path) -> str:
    """Return the sha256 over the builder version and every file, mode and link of `directory`."""
    h = hashlib.sha256(f"wadah-image-builder {BUILDER_VERSION}\n".encode())
    for path in _walk(directory):
        rel = path.relative_to(directory).as_posix()
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            h.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif stat.S_ISDIR(st.st_mode):
            h.update(f"D {rel}\n".encode())
        elif stat.S_ISREG(st.st_mode):
            # Only the executable bit: git keeps no other mode, so checkouts agree.
            mode = "755" if st.st_mode & stat.S_IXUSR else "644"
            h.update(f"F {rel} {mode} {st.st_size}\n".encode())
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 16), b""):
                    h.update(chunk)
        else:
            raise RecipeError(f"{path}: only files, directories and symlinks belong in a recipe")
    return h.hexdigest()


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        base = Path(root)
        for name in sorted([*dirs, *files]):
            if name.endswith(".pyc"):
                continue
            yield base / name


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return where root file system tarballs are kept: `$WADAH_STATE_DIR/images`."""
    env = os.environ if environ is None else environ
    state = env.get(STATE_DIR_ENV) or str(DEFAULT_STATE_DIR)
    return Path(state).expanduser() / CACHE_SUBDIR


def ensure_runtime_images(
    client: docker.DockerClient,
    names: Iterable[str] | None = None,
    progress: Callable[[str], object] = logger.info,
    *,
    recipes_dir: Path | None = None,
    cache_dir: Path | None = None,
    rebuild: bool = False,
) -> dict[str, ImageInfo]:
    """Make sure each runtime image in `names` (all by default) exists and matches its recipe.

    `rebuild` builds anew even an up-to-date image, without its cached root file system: the
    way to take in Debian's security updates.
    """
    cache = cache_dir or default_cache_dir()
    return {
        name: ensure_image(
            client, load_recipe(name, recipes_dir), progress, cache_dir=cache, rebuild=rebuild
        )
        for name in (RUNTIME_IMAGES if names is None else names)
    }


def ensure_image(
    client: docker.DockerClient,
    recipe: Recipe,
    progress: Callable[[str], object] = logger.info,
    *,
    cache_dir: Path | None = None,
    rebuild: bool = False,
) -> ImageInfo:
    """Make sure the image of `recipe` exists and carries its digest; build it if not."""
    digest = recipe_digest(recipe.directory)
    current = _labelled_image(client, recipe.tag, digest)
    if current is not None and not rebuild:
        return ImageInfo(recipe.name, recipe.tag, current.id, digest, built=False)

    cache = (cache_dir or default_cache_dir()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache / f"{recipe.name}.lock"):
        # Another process may have built it while this one waited for the lock.
        current = _labelled_image(client, recipe.tag, digest)
        if current is not None and not rebuild:
            return ImageInfo(recipe.name, recipe.tag, current.id, digest, built=False)
        previous = _image_id(client, recipe.tag)
        tarball = cache / f"{recipe.name}-{digest}.tar"
        if rebuild or not tarball.is_file():
            progress(f"{recipe.tag}: building the root file system with mmdebstrap")
            build_rootfs(recipe, tarball)
        else:
            progress(f"{recipe.tag}: using the cached root file system {tarball}")
        progress(f"{recipe.tag}: importing into Docker")
        image_id = _import(client, recipe, digest, tarball)
        _forget_old_tarballs(cache, recipe.name, keep=tarball)
    if previous and previous != image_id:
        _remove_unused_image(client, previous)
    progress(f"{recipe.tag}: built {image_id}")
    return ImageInfo(recipe.name, recipe.tag, image_id, digest, built=True)


def mmdebstrap_command(recipe: Recipe, target: Path) -> list[str]:
    """Return the mmdebstrap argument list that writes the root file system of `recipe`."""
    argv = [
        MMDEBSTRAP,
        f"--variant={recipe.variant}",
        "--format=tar",
        f"--include={','.join(recipe.packages)}",
        "--aptopt=Acquire::Retries 3",
    ]
    argv += [f"--dpkgopt={o}" for o in recipe.dpkg_options]
    argv += [f"--hook-dir={MMDEBSTRAP_HOOKS_DIR / h}" for h in recipe.mmdebstrap_hook_dirs]
    if recipe.hook_dir is not None:
        argv.append(f"--hook-dir={(recipe.directory / recipe.hook_dir).resolve()}")
    argv += ["--", recipe.suite, str(target), *recipe.sources]
    return argv


def build_rootfs(recipe: Recipe, tarball: Path) -> None:
    """Write the root file system of `recipe` to `tarball` with mmdebstrap."""
    partial = tarball.with_name(tarball.name + ".partial")
    partial.unlink(missing_ok=True)
    env = {
        **os.environ,
        # Read by the recipe's hook scripts, so the user is named in recipe.toml only.
        "WADAH_USER_NAME": recipe.user.name,
        "WADAH_UID": str(recipe.user.uid),
        "WADAH_GID": str(recipe.user.gid),
    }
    argv = mmdebstrap_command(recipe, partial)
    logger.debug("running %s", argv)
    try:
        done = subprocess.run(
            argv,
            cwd=recipe.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as e:
        raise ImageBuildError(f"{MMDEBSTRAP} is not installed (apt-get install mmdebstrap)") from e
    except subprocess.TimeoutExpired as e:
        partial.unlink(missing_ok=True)
        raise ImageBuildError(
            f"{recipe.tag}: mmdebstrap did not finish in {BUILD_TIMEOUT_SECONDS} s"
        ) from e
    logger.debug("mmdebstrap output for %s:\n%s", recipe.tag, done.stderr)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join(done.stderr.splitlines()[-25:])
        raise ImageBuildError(f"{recipe.tag}: mmdebstrap failed ({done.returncode}):\n{tail}")
    os.replace(partial, tarball)


def import_changes(recipe: Recipe, digest: str) -> list[str]:
    """Return the Dockerfile instructions that `docker import` applies to the root file system."""
    changes = [
        f"LABEL {RECIPE_LABEL}={_quoted(digest)} {NAME_LABEL}={_quoted(recipe.name)}",
        f"USER {recipe.user.uid}:{recipe.user.gid}",
        f"WORKDIR {recipe.workdir}",
        f"EXPOSE {recipe.port}/tcp",
    ]
    changes += [f"ENV {key}={_quoted(value)}" for key, value in recipe.env.items()]
    if recipe.entrypoint:
        changes.append(f"ENTRYPOINT {json.dumps(list(recipe.entrypoint))}")
    changes.append(f"CMD {json.dumps(list(recipe.cmd))}")
    return changes


def _quoted(value: str) -> str:
    """Quote `value` for a Dockerfile ENV or LABEL, where `$` would otherwise expand."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _import(client: docker.DockerClient, recipe: Recipe, digest: str, tarball: Path) -> str:
    repository, tag = recipe.tag.rsplit(":", 1)
    try:
        client.api.import_image(
            src=str(tarball),
            repository=repository,
            tag=tag,
            changes=import_changes(recipe, digest),
        )
        image = client.images.get(recipe.tag)
    except docker.errors.DockerException as e:
        raise ImageBuildError(f"{recipe.tag}: docker import failed: {e}") from e
    if image.labels.get(RECIPE_LABEL) != digest:
        raise ImageBuildError(f"{recipe.tag}: the imported image lacks its {RECIPE_LABEL} label")
    return str(image.id)


def _labelled_image(client: docker.DockerClient, tag: str, digest: str) -> Image | None:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return image if (image.labels or {}).get(RECIPE_LABEL) == digest else None


def _image_id(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def _remove_unused_image(client: docker.DockerClient, image_id: str) -> None:
    """Remove the image a rebuild replaced, unless containers or child images still use it."""
    try:
        client.images.remove(image_id)
    except docker.errors.APIError as e:
        logger.info("keeping replaced image %s: %s", image_id, e.explanation or e)


def _forget_old_tarballs(cache: Path, name: str, keep: Path) -> None:
    pattern = re.compile(rf"^{re.escape(name)}-[0-9a-f]{{64}}\.tar$")
    for path in cache.iterdir():
        if path != keep and pattern.match(path.name):
            path.unlink(missing_ok=True)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path`, so one process at a time builds an image."""
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
