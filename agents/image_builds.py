"""Builds of apps with their own Dockerfile (stack "dockerfile"), kept until the panel decides.

A build makes the release's image and the tar of the files it added; nothing runs until the panel
has scanned those files and signed the image for a deploy, which runs that image and no other.
"""
from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents import builds, defaults, private_files, protocol, releases
from agents.builds import BuildOutput
from agents.errors import (
    BuildFailed,
    HostOperationError,
    InvalidRequest,
    RuntimeUnavailable,
    UnknownBuild,
    UnsignedImage,
)
from agents.parts import HostParts, subdirs
from agents.protocol import IMAGE_ID, AppSpec, InvalidName, app_name
from agents.runtime import ImageFacts
from agents.state import REMOVED, AppRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    """A Dockerfile app's image, built and waiting for the panel to scan what the build made."""

    app: str
    release_id: int
    artifact_sha256: str
    image_id: str  # what a deploy must name, under the panel's signature
    base_image: str
    output: BuildOutput  # the tar of the build's own files: GET …/builds/<release>/output
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ImageBuilds:
    """The builds of Dockerfile apps on one host, and the signed images deploys may run."""

    def __init__(self, parts: HostParts) -> None:
        self.parts = parts

    def build(self, spec: AppSpec) -> BuildResult:
        """Build a Dockerfile app's image for release `spec` and list the files the build made.

        Nothing runs and nothing is switched: the image waits, with the tar of its own files
        (`build_output`), for the panel to scan them and sign the image for `deploy`. Raises
        InvalidRequest, UnknownArtifact, AppBusy, ArtifactRejected, BuildFailed or
        RuntimeUnavailable; on any of them no image and no build are left.
        """
        parts = self.parts
        started = time.monotonic()
        parts.check_spec(spec)
        if spec.stack != "dockerfile":
            raise InvalidRequest("hanya aplikasi dengan Dockerfile yang dibangun di host")
        token = secrets.token_hex(3)
        with parts.state.lock_app(spec.name):
            before = parts.state.load(spec.name)
            if before is not None and before.desired == REMOVED:
                raise InvalidRequest(f"aplikasi {spec.name} sedang dihapus")
            if before is not None and any(r.release_id == spec.release_id
                                          for r in before.releases()):
                raise InvalidRequest(f"rilis {spec.release_id} aplikasi {spec.name} sudah dipasang")
            self.forget(spec.name, spec.release_id, before)  # a build asked again: anew
            work = parts.state.builds_dir(spec.name) / f".work-{token}"
            work.mkdir(parents=True, mode=0o700)
            target = parts.state.build_dir(spec.name, spec.release_id)
            image_id: str | None = None
            try:
                context = releases.unpack(parts.artifacts.path(spec.artifact_sha256), work,
                                          "context", spec.docroot)
                plan = releases.check_dockerfile(context, spec.dockerfile)
                base = parts.runtime.image_facts(plan.base_image)
                if base is None:
                    raise RuntimeUnavailable(f"image {plan.base_image} belum ada di host ini")
                image_id = parts.runtime.build(spec.name, spec.release_id,
                                               f"{spec.release_id}-{token}", context,
                                               spec.dockerfile, spec.artifact_sha256)
                own = self._own_layers(spec.name, image_id, base)
                layers_dir = work / "layers"
                layers_dir.mkdir(mode=0o700)
                saved = parts.runtime.save_layers(image_id, set(own), layers_dir,
                                                  defaults.BUILD_LAYERS_MAX_BYTES) if own else {}
                target.mkdir(mode=0o700)
                output = builds.changed_files([saved[layer] for layer in own], context,
                                              target / "output.tar")
                result = BuildResult(app=spec.name, release_id=spec.release_id,
                                     artifact_sha256=spec.artifact_sha256, image_id=image_id,
                                     base_image=plan.base_image, output=output,
                                     seconds=round(time.monotonic() - started, 3))
                private_files.write(target / "build.json",
                                    json.dumps({**result.to_dict(), "created_at": time.time()}))
            except BaseException:
                if image_id is not None:
                    with contextlib.suppress(HostOperationError):
                        parts.runtime.remove_image(image_id)
                shutil.rmtree(target, ignore_errors=True)
                raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
            logger.info("built %s release %s: image %s, %s files to scan, %s unchanged",
                        spec.name, spec.release_id, image_id, output.files, output.unchanged)
            return result

    def output(self, app: str, release_id: int) -> Path:
        """Return the tar of the files a kept build of `app`'s release made; raise UnknownBuild."""
        path = self._build_dir(app, release_id) / "output.tar"
        if not path.is_file():
            raise UnknownBuild(f"build rilis {release_id} aplikasi {app} tidak ada di host ini")
        return path

    def discard(self, app: str, release_id: int) -> None:
        """Drop a build no deploy will use (its files were not cleared): its image and its files."""
        directory = self._build_dir(app, release_id)
        with self.parts.state.lock_app(app):
            if not directory.is_dir():
                raise UnknownBuild(f"build rilis {release_id} aplikasi {app} tidak ada di host ini")
            self.forget(app, release_id, self.parts.state.load(app))

    def signed_image(self, spec: AppSpec, image_id: str, base_image: str) -> str:
        """Return `image_id` if it is this release's build, on its runtime image; else refuse."""
        runtime = self.parts.runtime
        facts = runtime.image_facts(image_id)
        if facts is None or facts.id != image_id:
            raise UnsignedImage(f"image {image_id} tidak ada di host ini: rilis {spec.release_id} "
                                f"aplikasi {spec.name} harus dibangun dahulu")
        expected = {defaults.LABEL_AGENT: self.parts.owner, defaults.LABEL_APP: spec.name,
                    defaults.LABEL_RELEASE: str(spec.release_id),
                    defaults.LABEL_ARTIFACT: spec.artifact_sha256}
        if any(facts.labels.get(key) != value for key, value in expected.items()):
            raise UnsignedImage(f"image {image_id} bukan hasil build rilis {spec.release_id} "
                                f"aplikasi {spec.name} dari artefak ini")
        base = runtime.image_facts(base_image)
        if base is None or facts.layers[:len(base.layers)] != base.layers \
                or process_changes(facts, base):
            raise UnsignedImage(f"image {image_id} tidak dibangun di atas {base_image}")
        return image_id

    def _own_layers(self, app: str, image_id: str, base: ImageFacts) -> list[str]:
        """Return the layers a build added above its runtime image, oldest first.

        The build may add files, which are scanned; it may not change how the runtime image starts,
        its environment or its volumes, which no scan reads.
        """
        built = self.parts.runtime.image_facts(image_id)
        if built is None or built.layers[:len(base.layers)] != base.layers:
            raise BuildFailed(f"image aplikasi {app} tidak dibangun di atas image runtime-nya")
        changed = process_changes(built, base)
        if changed:
            raise BuildFailed(f"Dockerfile aplikasi {app} tidak boleh mengubah cara image runtime "
                              f"dijalankan (berubah: {', '.join(changed)}); variabel lingkungan "
                              f"aplikasi diatur lewat panel")
        return built.layers[len(base.layers):]

    def _build_dir(self, app: str, release_id: int) -> Path:
        try:
            app_name(app)
            protocol.release_id(release_id)
        except (InvalidName, protocol.InvalidSpec) as exc:
            raise InvalidRequest(str(exc)) from exc
        return self.parts.state.build_dir(app, release_id)

    def forget(self, app: str, release_id: int, record: AppRecord | None) -> str | None:
        """Remove a kept build's files and its image, unless a kept release runs that image.

        Return the id of the image removed, if one was.
        """
        directory = self.parts.state.build_dir(app, release_id)
        built = read_build(directory)
        image_id = built.get("image_id") if built else None
        removed = None
        if isinstance(image_id, str) and IMAGE_ID.match(image_id) \
                and not (record is not None and image_id in self.image_ids(record)):
            with contextlib.suppress(HostOperationError):
                removed = image_id if self.parts.runtime.remove_image(image_id) else None
        shutil.rmtree(directory, ignore_errors=True)
        return removed

    def image_ids(self, record: AppRecord) -> set[str]:
        """Return the ids of the images the app's kept releases run (tags resolved)."""
        found = set()
        for release in record.releases():
            if IMAGE_ID.match(release.image):
                found.add(release.image)
                continue
            facts = self.parts.runtime.image_facts(release.image)
            if facts is not None:
                found.add(facts.id)
        return found

    def kept_images(self, app: str) -> set[str]:
        """Return the ids of the images the app's kept builds made (waiting for a deploy)."""
        found = set()
        for directory in subdirs(self.parts.state.builds_dir(app)):
            built = read_build(directory)
            if built is not None and isinstance(built.get("image_id"), str):
                found.add(built["image_id"])
        return found


# A VOLUME would be a writable place in the code tree where nothing says PHP may not run.
_PROCESS_NAMES = {"Entrypoint": "ENTRYPOINT", "Cmd": "CMD", "Healthcheck": "HEALTHCHECK",
                  "Volumes": "VOLUME"}


def process_changes(built: ImageFacts, base: ImageFacts) -> list[str]:
    """Name what of the runtime image's start command and environment a build changed."""
    changed = [name for key, name in _PROCESS_NAMES.items()
               if built.process.get(key) != base.process.get(key)]
    ours, theirs = built.process.get("Env") or {}, base.process.get("Env") or {}
    changed += [f"ENV {key}" for key in sorted(set(ours) | set(theirs))
                if ours.get(key) != theirs.get(key)]
    return changed


def read_build(directory: Path) -> dict[str, Any] | None:
    """Return a kept build's record, or None if it is missing or unreadable."""
    try:
        found = json.loads((directory / "build.json").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
