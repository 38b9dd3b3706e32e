"""Deploys: a new release (or the previous one, or the same one on a new environment) goes live.

Every way an app changes release goes through one switch: start the release's container beside the
current one, wait until it is healthy, point the vhost at it, then retire the old container. A
failure on the way leaves the previous release serving and nothing of the new one.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import secrets
import shutil
import time
from pathlib import Path

from agents import defaults, protocol, releases, tenantfs
from agents.errors import (
    DeployAborted,
    HostOperationError,
    InvalidRequest,
    UnknownRelease,
    UnsignedImage,
)
from agents.image_builds import ImageBuilds
from agents.parts import DeployResult, HostParts
from agents.protocol import AppSpec
from agents.runtime import PortTaken
from agents.state import REMOVED, RUNNING, AppRecord, ReleaseRecord

logger = logging.getLogger(__name__)


class Deployments:
    """Deploy, rollback and the changes that roll an app onto a new container."""

    def __init__(self, parts: HostParts, image_builds: ImageBuilds) -> None:
        self.parts = parts
        self.image_builds = image_builds

    def deploy(self, spec: AppSpec, image_id: str | None = None) -> DeployResult:
        """Run release `spec` beside the current one; switch the vhost once it is healthy.

        A Dockerfile app runs `image_id`, the image `build` made for this release, and no other.
        The spec's storage limit sizes the app's data volume when it is first made; an existing
        volume changes size only through `set_storage`, so a deploy never stops the app.

        Raises InvalidRequest, UnknownArtifact, AppBusy, ArtifactRejected, UnsignedImage,
        DeployAborted (with the new container's logs), VhostError, DatabaseError, StorageError or
        RuntimeUnavailable; on any of them the previous release keeps serving and nothing of the
        new one is left.
        """
        parts = self.parts
        started = time.monotonic()
        parts.check_spec(spec)
        _check_image_id(spec, image_id)
        with parts.state.lock_app(spec.name):
            before = parts.state.load(spec.name)
            if before is not None:
                if before.desired == REMOVED:
                    raise InvalidRequest(f"aplikasi {spec.name} sedang dihapus")
                parts.recover(before)
            self._check_fqdn_free(spec.name, spec.fqdn)
            record = copy.deepcopy(before) if before else AppRecord(name=spec.name, fqdn=spec.fqdn)
            record.fqdn, record.env = spec.fqdn, dict(spec.env)
            record.upload_max_mb, record.desired = spec.upload_max_mb, RUNNING
            record.listen_address = spec.listen_address
            if not parts.volumes.exists(spec.name):
                record.storage_mb = spec.storage_mb  # an existing volume changes by set_storage only
            release: ReleaseRecord | None = None
            created_database = False
            try:
                release = self._prepare(spec, image_id)
                if spec.database and record.database is None:
                    record.database = parts.require_databases().create(spec.name)
                    created_database = True
                previous = record.current.release_id if record.current else None
                self._switch(record, release, fallback=before)
            except BaseException:
                if release is not None:
                    parts.discard_release(release)
                    # Its image did not come up: the build goes with it (a refusal keeps it).
                    shutil.rmtree(parts.state.build_dir(spec.name, spec.release_id),
                                  ignore_errors=True)
                if before is None:
                    self._discard_new_app(spec.name, created_database)
                elif created_database:
                    with contextlib.suppress(HostOperationError):
                        parts.require_databases().drop(spec.name)
                raise
            # The image now belongs to the release; its build's files were scanned and served.
            shutil.rmtree(parts.state.build_dir(spec.name, spec.release_id), ignore_errors=True)
            return parts.result(record, previous, started)

    def rollback(self, app: str) -> DeployResult:
        """Return to the previous release the same way a deploy goes (health check, then switch)."""
        parts = self.parts
        started = time.monotonic()
        with parts.state.lock_app(app):
            record = parts.load(app)
            parts.recover(record)
            if not record.previous:
                raise UnknownRelease(f"aplikasi {app} tidak memiliki rilis sebelumnya")
            target = copy.deepcopy(record.previous[0])
            target.instance = None
            if not Path(target.directory).is_dir() or not parts.runtime.image_exists(target.image):
                raise UnknownRelease(
                    f"rilis {target.release_id} aplikasi {app} sudah tidak tersimpan")
            previous = record.current.release_id if record.current else None
            record.desired = RUNNING
            self._switch(record, target, fallback=copy.deepcopy(record))
            return parts.result(record, previous, started)

    def set_env(self, app: str, env: dict[str, str]) -> DeployResult:
        """Replace the app's environment and roll its current release onto it without downtime."""
        started = time.monotonic()
        try:
            protocol.check_env(env)
        except protocol.InvalidSpec as exc:
            raise InvalidRequest(str(exc)) from exc
        with self.parts.state.lock_app(app):
            record = self.parts.load(app)
            self.parts.recover(record)
            fallback = copy.deepcopy(record)
            record.env = dict(env)
            return self._roll(record, fallback, started)

    def reset_database_password(self, app: str) -> DeployResult:
        """Give the app's database account a new password and roll the app onto it.

        If the app does not come up with it, the old password is put back.
        """
        started = time.monotonic()
        with self.parts.state.lock_app(app):
            record = self.parts.load(app)
            self.parts.recover(record)
            if record.database is None:
                raise InvalidRequest(f"aplikasi {app} tidak memiliki basis data")
            fallback = copy.deepcopy(record)
            databases = self.parts.require_databases()
            record.database = databases.reset_password(app)
            try:
                return self._roll(record, fallback, started)
            except BaseException:
                assert fallback.database is not None
                databases.set_password(app, fallback.database.password)
                raise

    # --- internals -------------------------------------------------------------------------------

    def _check_fqdn_free(self, app: str, fqdn: str) -> None:
        state = self.parts.state
        for other in state.names():
            record = state.load(other) if other != app else None
            if record is not None and record.fqdn == fqdn:
                raise InvalidRequest(f"{fqdn} sudah dipakai aplikasi {other} di host ini")

    def _prepare(self, spec: AppSpec, image_id: str | None = None) -> ReleaseRecord:
        """Unpack the artifact into a new release directory (a Dockerfile app: with its image)."""
        parts = self.parts
        parent = parts.state.releases_dir(spec.name)
        directory = releases.unpack(parts.artifacts.path(spec.artifact_sha256), parent,
                                    f"{spec.release_id}-{secrets.token_hex(3)}", spec.docroot)
        try:
            if spec.stack == "dockerfile":
                plan = releases.check_dockerfile(directory, spec.dockerfile)
                base = plan.stack
                framework, docroot, writable = releases.layout(directory, base, spec.docroot,
                                                               spec.writable_paths)
                assert image_id is not None
                image = self.image_builds.signed_image(spec, image_id, plan.base_image)
            else:
                base = spec.stack
                framework, docroot, writable = releases.layout(directory, base, spec.docroot,
                                                               spec.writable_paths)
                image = defaults.RUNTIME_IMAGES[spec.stack]
        except BaseException:
            releases.forget(directory)
            raise
        return ReleaseRecord(release_id=spec.release_id, spec=spec, framework=framework.name,
                             docroot=docroot, writable_paths=writable, image=image,
                             base_stack=base, directory=str(directory))

    def _discard_new_app(self, app: str, created_database: bool) -> None:
        """Undo what a failed first deploy created, so the host is as it was before."""
        parts = self.parts
        with contextlib.suppress(HostOperationError):
            for container in parts.runtime.owned(app):
                parts.runtime.remove(container.name)
            parts.runtime.remove_network(app)
        if created_database:
            with contextlib.suppress(HostOperationError):
                parts.require_databases().drop(app)
        try:
            parts.volumes.remove(app, parts.state.data_dir(app))
        except HostOperationError:
            logger.warning("the data volume of %s stays until reconcile removes it", app)
        else:
            tenantfs.remove_tree(parts.state.data_dir(app))
        shutil.rmtree(parts.state.releases_dir(app), ignore_errors=True)
        parts.state.delete(app)

    def _switch(self, record: AppRecord, release: ReleaseRecord, fallback: AppRecord | None) -> None:
        """Start `release` beside the current one, check it, switch the vhost, retire the old one.

        On failure the new container is removed, the vhost is as before, and `fallback` is saved
        as the app's state (None: the app did not exist).
        """
        parts = self.parts
        instance = parts.state.reserve_instance(record, release)
        switched = False
        try:
            spec = parts.container_spec(record, release)
            for _attempt in range(defaults.PORT_ATTEMPTS - 1):
                try:
                    parts.runtime.run(spec, parts.user())
                    break
                except PortTaken:
                    instance = parts.state.reserve_instance(record, release)
                    spec = parts.container_spec(record, release)
            else:
                parts.runtime.run(spec, parts.user())
            parts.runtime.wait_healthy(spec, release.spec.health)
            record.current, old = release, record.current
            try:
                parts.vhosts.apply({record.name: parts.vhost_text(record)})
                switched = True
                parts.vhosts.wait_switched(record.fqdn, instance.token, release.spec.health.path,
                                           address=record.listen_address)
            finally:
                record.current = old
        except BaseException as exc:
            name = instance.container_name(record.name, release.release_id)
            logs = exc.logs if isinstance(exc, DeployAborted) else ""
            if not logs:
                with contextlib.suppress(HostOperationError):
                    logs = parts.runtime.logs(name, defaults.LOG_LINES_ON_FAILURE)
            with contextlib.suppress(HostOperationError):
                parts.runtime.remove(name)
            if switched:
                with contextlib.suppress(HostOperationError):
                    if fallback is not None:
                        parts.write_vhosts({record.name: fallback})
                    else:
                        parts.vhosts.apply({record.name: None})
            if fallback is not None:
                fallback.pending = None
                parts.state.save(fallback)
            else:
                parts.state.delete(record.name)
            if isinstance(exc, DeployAborted) and not exc.logs:
                exc.logs = logs
            raise
        old = record.current
        record.current, record.pending = release, None
        retired: str | None = None
        if old is not None:
            if old.instance is not None:
                retired = parts.container_name(record.name, old)
                old.instance = None
            record.previous = [r for r in record.previous if r.release_id != release.release_id]
            if old.release_id != release.release_id:
                record.previous.insert(0, old)
        dropped = record.previous[defaults.KEEP_RELEASES:]
        record.previous = record.previous[:defaults.KEEP_RELEASES]
        parts.state.save(record)
        if retired is not None:
            parts.vhosts.drain()  # nginx's old workers finish the requests they hold
            with contextlib.suppress(HostOperationError):
                parts.runtime.remove(retired)
        if old is not None and old.release_id == release.release_id \
                and old.directory != release.directory:
            parts.discard_release(old, record)
        for gone in dropped:
            parts.discard_release(gone, record)

    def _roll(self, record: AppRecord, fallback: AppRecord, started: float) -> DeployResult:
        """Replace the current release's container by a new one, or just save if it is stopped."""
        release = self.parts.current(record)
        if record.desired != RUNNING:
            self.parts.state.save(record)
            return self.parts.result(record, release.release_id, started)
        target = copy.deepcopy(release)
        target.instance = None
        self._switch(record, target, fallback=fallback)
        return self.parts.result(record, release.release_id, started)


def _check_image_id(spec: AppSpec, image_id: str | None) -> None:
    """Refuse an image for an app without a Dockerfile, and none for an app with one."""
    if spec.stack != "dockerfile":
        if image_id is not None:
            raise InvalidRequest("hanya aplikasi dengan Dockerfile yang dipasang dari image")
        return
    if image_id is None:
        raise UnsignedImage(f"aplikasi {spec.name} dengan Dockerfile hanya dipasang dari image "
                            f"hasil build yang ditandatangani panel")
    try:
        protocol.image_id(image_id)
    except protocol.InvalidSpec as exc:
        raise InvalidRequest(str(exc)) from exc
