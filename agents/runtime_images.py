"""The images of the agent's apps on Docker Engine: their facts, builds of an app's own Dockerfile, the
export of a build's layers, and removal of what this agent built (never a runtime image).

Every failure to reach or use Docker becomes RuntimeUnavailable, a failed build BuildFailed.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
import secrets
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests.exceptions

from agents import defaults
from agents.errors import BuildFailed, RuntimeUnavailable
from agents.protocol import app_name

_DOCKER_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


@dataclass(frozen=True)
class ImageFacts:
    id: str  # sha256:…, the digest of the image's configuration (its layers included)
    layers: list[str]  # diff ids, the runtime image's first
    labels: dict[str, str]
    size: int
    # What the container runs on start, with which environment and volumes: Entrypoint, Cmd, Env
    # (as a mapping), Healthcheck, Volumes.
    process: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Turn Docker's exceptions into RuntimeUnavailable naming `what` was being done."""
    try:
        yield
    except _DOCKER_ERRORS as exc:
        raise RuntimeUnavailable(f"Docker gagal saat {what}: {explain(exc)}") from exc


def explain(exc: Exception) -> str:
    """Return what Docker said went wrong, or the exception's own text."""
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return str(exc)


class RuntimeImages:
    """The image verbs of the runtime, on images labelled as this agent's."""

    def __init__(self, client: docker.DockerClient, owner: str) -> None:
        self.client = client
        self.owner = owner

    def labels(self, app: str, release_id: int | None = None, instance: str | None = None
               ) -> dict[str, str]:
        labels = {defaults.LABEL_AGENT: self.owner, defaults.LABEL_APP: app_name(app)}
        if release_id is not None:
            labels[defaults.LABEL_RELEASE] = str(release_id)
        if instance is not None:
            labels[defaults.LABEL_INSTANCE] = instance
        return labels

    def image_exists(self, image: str) -> bool:
        with docker_errors(f"membaca image {image}"):
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                return False
            return True

    def image_user(self, image: str) -> str:
        with docker_errors(f"membaca image {image}"):
            return str(self.client.images.get(image).attrs.get("Config", {}).get("User") or "")

    def image_facts(self, image: str) -> ImageFacts | None:
        """Return an image's id, layers, labels and size, or None if there is no such image."""
        with docker_errors(f"membaca image {image}"):
            try:
                found = self.client.images.get(image)
            except docker.errors.ImageNotFound:
                return None
            attrs = found.attrs
        config = attrs.get("Config") or {}
        env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
        process = {"Entrypoint": config.get("Entrypoint"), "Cmd": config.get("Cmd"), "Env": env,
                   "Healthcheck": config.get("Healthcheck"), "Volumes": config.get("Volumes")}
        return ImageFacts(id=str(found.id), layers=list((attrs.get("RootFS") or {}).get("Layers") or []),
                          labels=dict(found.labels or {}), size=int(attrs.get("Size") or 0),
                          process=process)

    def build(self, app: str, release_id: int, version: str, context: Path,
              dockerfile: str = "Dockerfile", artifact_sha256: str | None = None) -> str:
        """Build the app's own Dockerfile with the build limits; return the image's id.

        The classic builder runs every step without a network, unprivileged (the build API has
        no way to ask otherwise), within memory and one core; it fetches no base image, and no
        proxy settings of the agent's own environment are passed in.
        """
        tag = f"{defaults.NAME_PREFIX}-app/{app_name(app)}:{version}"
        memory = defaults.BUILD_MEMORY_MB * 1024 * 1024
        labels = self.labels(app, release_id)  # the build's labels win over the Dockerfile's
        if artifact_sha256 is not None:
            labels[defaults.LABEL_ARTIFACT] = artifact_sha256
        output: list[str] = []
        with docker_errors(f"membangun image {tag}"):
            try:
                stream = self.client.api.build(
                    path=str(context), dockerfile=dockerfile, tag=tag, rm=True, forcerm=True,
                    pull=False, nocache=False, network_mode=defaults.BUILD_NETWORK,
                    labels=labels, decode=True, timeout=defaults.BUILD_TIMEOUT_S,
                    use_config_proxy=False,
                    container_limits={"memory": memory, "memswap": memory,
                                      "cpusetcpus": defaults.BUILD_CPUSET})
                for chunk in stream:
                    if "stream" in chunk:
                        output.append(str(chunk["stream"]))
                    if "error" in chunk:
                        raise BuildFailed(f"image aplikasi {app} gagal dibangun: "
                                          f"{str(chunk['error']).strip()}",
                                          logs="".join(output[-defaults.LOG_LINES_ON_FAILURE:]))
            except docker.errors.APIError as exc:
                raise BuildFailed(f"image aplikasi {app} gagal dibangun: {explain(exc)}",
                                  logs="".join(output[-defaults.LOG_LINES_ON_FAILURE:])) from exc
            except requests.exceptions.ReadTimeout as exc:
                raise BuildFailed(f"pembangunan image aplikasi {app} melebihi batas waktu",
                                  logs="".join(output[-defaults.LOG_LINES_ON_FAILURE:])) from exc
            return str(self.client.images.get(tag).id)

    def save_layers(self, image_id: str, wanted: set[str], directory: Path,
                    max_bytes: int) -> dict[str, Path]:
        """Write the layers of `image_id` whose diff ids are `wanted` into `directory` as tars.

        The image is read as `docker save` gives it; each layer is recognised by the sha256 of its
        tar, which is its diff id. More than `max_bytes` of wanted layers raises BuildFailed.
        """
        found: dict[str, Path] = {}
        kept = 0
        with docker_errors(f"membaca lapisan image {image_id}"):
            image = self.client.images.get(image_id)
            reader = _ChunkReader(image.save(chunk_size=_SAVE_CHUNK, named=False))
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                for member in archive:
                    if not member.isfile():
                        continue  # a repeated layer is a symlink to the first copy
                    name = member.name
                    if name.startswith("blobs/sha256/"):  # the OCI layout names blobs by digest
                        if f"sha256:{posixpath.basename(name)}" not in wanted.difference(found):
                            continue
                    elif not name.endswith("/layer.tar"):
                        continue
                    handle = archive.extractfile(member)
                    assert handle is not None
                    target = directory / f"layer-{len(found)}-{secrets.token_hex(4)}.tar"
                    keep = member.size <= max_bytes - kept
                    digest = _copy_hashing(handle, target if keep else None)
                    if digest in wanted and digest not in found:
                        if not keep:
                            raise BuildFailed(f"lapisan yang dibuat build melebihi batas "
                                              f"{max_bytes} bita")
                        found[digest] = target
                        kept += member.size
                    elif keep:
                        target.unlink()
        missing = wanted.difference(found)
        if missing:
            raise RuntimeUnavailable(f"lapisan {', '.join(sorted(missing))} tidak ada dalam "
                                     f"ekspor image {image_id}")
        return found

    def remove_image(self, image: str) -> bool:
        """Remove an image this agent built (never a runtime image); return whether it did."""
        with docker_errors(f"menghapus image {image}"):
            try:
                found = self.client.images.get(image)
            except docker.errors.ImageNotFound:
                return False
            if found.labels.get(defaults.LABEL_AGENT) != self.owner:
                return False
            try:
                self.client.images.remove(image, noprune=False)
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # still used by a container
                    return False
                raise
            return True

    def owned_images(self) -> dict[str, tuple[str, int]]:
        """Return {image id: (app, release)} for the images this agent built."""
        with docker_errors("mendaftar image"):
            images = self.client.images.list(filters={
                "label": f"{defaults.LABEL_AGENT}={self.owner}"})
        found = {}
        for image in images:
            labels = image.labels
            with contextlib.suppress(KeyError, ValueError):
                found[str(image.id)] = (labels[defaults.LABEL_APP],
                                        int(labels[defaults.LABEL_RELEASE]))
        return found

    def prune_dangling(self) -> int:
        """Remove untagged leftovers of this agent's builds; return the bytes reclaimed."""
        with docker_errors("membersihkan image"):
            result = self.client.images.prune(filters={
                "dangling": True, "label": f"{defaults.LABEL_AGENT}={self.owner}"})
        return int(result.get("SpaceReclaimed") or 0)


_SAVE_CHUNK = 1024 * 1024


class _ChunkReader(io.RawIOBase):
    """A file object over the chunks of a streamed HTTP body, for tarfile's stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _copy_hashing(source: IO[bytes], target: Path | None) -> str:
    """Read `source` to its end, into `target` if given; return its sha256 as a diff id."""
    digest = hashlib.sha256()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(target.open("xb")) if target is not None else None
        while chunk := source.read(_SAVE_CHUNK):
            digest.update(chunk)
            if out is not None:
                out.write(chunk)
    return f"sha256:{digest.hexdigest()}"
