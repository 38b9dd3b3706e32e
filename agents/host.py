"""The operations an agent performs on its host, composed from runtime, vhosts, databases and state.

`Host` is what the agent's API calls. Every operation on an app holds that app's lock (a file lock,
so it holds across processes); a second operation on a busy app waits briefly, then gets AppBusy.
Every failure is one of the errors in `agents.errors`, and leaves the host as it was.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker

from agents import builds, defaults, frameworks, private_files, releases, tenantfs
from agents.builds import BuildOutput
from agents.databases import Databases, MariaDBSettings
from agents.errors import (
    AgentError,
    BuildFailed,
    DatabaseError,
    DeployFailed,
    FirewallError,
    InvalidRequest,
    RuntimeUnavailable,
    UnknownApp,
    UnknownArtifact,
    UnknownBuild,
    UnknownRelease,
    UnsignedImage,
    VhostError,
)
from agents.firewall import AppFirewall, firewall_facts
from agents.protocol import IMAGE_ID, AppSpec, InvalidName, app_name, env_key, loads_code
from agents.protocol.artifacts import SHA256, ArtifactStore
from agents.runtime import ContainerSpec, ContainerStats, ImageFacts, PortTaken, Runtime
from agents.state import (
    REMOVED,
    RUNNING,
    STOPPED,
    AppRecord,
    DatabaseAccount,
    Release,
    StateStore,
)
from agents.vhosts import NginxSettings, Site, Vhosts, rotated
from agents.volumes import MIB, Volumes, VolumeUsage

logger = logging.getLogger(__name__)

LOG_SOURCES = ("app", "access", "error")


# --- what the operations return ------------------------------------------------------------------


@dataclass(frozen=True)
class AppStatus:
    name: str
    fqdn: str
    desired: str  # running | stopped | removed
    state: str  # the container's state: running, exited, …; "absent" when there is none
    release_id: int | None
    previous_release_ids: list[int]
    stack: str | None
    framework: str | None
    docroot: str | None
    writable_paths: list[str]
    port: int | None  # the container's port on 127.0.0.1
    database: str | None  # the database name (the password is never shown here)
    deploying: bool  # a deploy was under way (or died half-way and awaits reconcile)
    storage_mb: int  # the limit on the app's writable data
    storage: VolumeUsage | None  # its data volume, once it has writable paths

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeployResult:
    app: str
    release_id: int
    previous_release_id: int | None
    port: int
    framework: str
    docroot: str
    writable_paths: list[str]
    database: DatabaseAccount | None  # the app's connection, password included, for the panel
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


@dataclass(frozen=True)
class RemovalReport:
    app: str
    dump: str | None  # the final database dump, if the app had a database

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HostFacts:
    """What the SOP's capacity check reads: the host's size, what it runs and what is committed."""

    hostname: str
    cpus: int
    load_average: list[float]
    memory_total_bytes: int
    memory_available_bytes: int
    disk: dict[str, dict[str, int]]  # path → total_bytes, free_bytes
    docker_version: str
    nginx_version: str
    mariadb_version: str | None
    apps_total: int
    apps_running: list[str]
    memory_committed_mb: int  # the sum of the memory limits of the apps meant to run
    cpus_committed: float
    storage_committed_mb: int  # the sum of the apps' data volumes (sparse: used as data comes)
    storage_used_bytes: int  # what the apps' data takes of them now
    app_network: dict[str, Any] = field(default_factory=dict)  # agents.firewall: what apps reach

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResourceStats:
    app: str
    memory_bytes: int
    memory_limit_bytes: int
    cpu_percent: float
    pids: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReconcileReport:
    actions: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # apps skipped: another operation held them
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneReport:
    releases_removed: list[str] = field(default_factory=list)
    builds_removed: list[str] = field(default_factory=list)
    images_removed: list[str] = field(default_factory=list)
    bytes_reclaimed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the host ------------------------------------------------------------------------------------


class Host:
    """The apps of one container host: deploy, rollback, start/stop, logs, databases, reconcile."""

    def __init__(self, docker_client: docker.DockerClient, nginx: NginxSettings,
                 state_dir: Path | str, artifacts: ArtifactStore,
                 mariadb: MariaDBSettings | None = None,
                 firewall: AppFirewall | None = None,
                 volume_mounter: str = "mount") -> None:
        self.state = StateStore(state_dir)
        self.volumes = Volumes(self.state.root / defaults.VOLUMES_SUBDIR, volume_mounter)
        self.owner = self.state.agent_id
        self.runtime = Runtime(docker_client, self.owner, lambda: self.state.lock_host("networks"))
        self.vhosts = Vhosts(nginx, self.owner, lambda: self.state.lock_host("nginx"))
        self.databases = Databases(mariadb) if mariadb is not None else None
        self.artifacts = artifacts
        self.firewall = firewall  # None: this host's app network is left as Docker makes it

    # --- deploy and rollback ---------------------------------------------------------------------

    def deploy(self, spec: AppSpec, image_id: str | None = None) -> DeployResult:
        """Run release `spec` beside the current one; switch the vhost once it is healthy.

        A Dockerfile app runs `image_id`, the image `build` made for this release, and no other.
        The spec's storage limit sizes the app's data volume when it is first made; an existing
        volume changes size only through `set_storage`, so a deploy never stops the app.

        Raises InvalidRequest, UnknownArtifact, AppBusy, ArtifactRejected, UnsignedImage,
        DeployFailed (with the new container's logs), VhostError, DatabaseError, StorageError or
        RuntimeUnavailable; on any of them the previous release keeps serving and nothing of the
        new one is left.
        """
        started = time.monotonic()
        self._check_spec(spec)
        self._check_image_id(spec, image_id)
        with self.state.lock_app(spec.name):
            before = self.state.load(spec.name)
            if before is not None:
                if before.desired == REMOVED:
                    raise InvalidRequest(f"aplikasi {spec.name} sedang dihapus")
                self._recover(before)
            self._check_fqdn_free(spec.name, spec.fqdn)
            record = copy.deepcopy(before) if before else AppRecord(name=spec.name, fqdn=spec.fqdn)
            record.fqdn, record.env = spec.fqdn, dict(spec.env)
            record.upload_max_mb, record.desired = spec.upload_max_mb, RUNNING
            if not self.volumes.exists(spec.name):
                record.storage_mb = spec.storage_mb  # an existing volume changes by set_storage only
            release: Release | None = None
            created_database = False
            try:
                release = self._prepare(spec, image_id)
                if spec.database and record.database is None:
                    record.database = self._databases().create(spec.name)
                    created_database = True
                previous = record.current.release_id if record.current else None
                self._switch(record, release, fallback=before)
            except BaseException:
                if release is not None:
                    self._discard_release(release)
                    # Its image did not come up: the build goes with it (a refusal keeps it).
                    shutil.rmtree(self.state.build_dir(spec.name, spec.release_id),
                                  ignore_errors=True)
                if before is None:
                    self._discard_new_app(spec.name, created_database)
                elif created_database:
                    with contextlib.suppress(AgentError):
                        self._databases().drop(spec.name)
                raise
            # The image now belongs to the release; its build's files were scanned and served.
            shutil.rmtree(self.state.build_dir(spec.name, spec.release_id), ignore_errors=True)
            return self._result(record, previous, started)

    # --- builds (stack "dockerfile") -------------------------------------------------------------

    def build(self, spec: AppSpec) -> BuildResult:
        """Build a Dockerfile app's image for release `spec` and list the files the build made.

        Nothing runs and nothing is switched: the image waits, with the tar of its own files
        (`build_output`), for the panel to scan them and sign the image for `deploy`. Raises
        InvalidRequest, UnknownArtifact, AppBusy, ArtifactRejected, BuildFailed or
        RuntimeUnavailable; on any of them no image and no build are left.
        """
        started = time.monotonic()
        self._check_spec(spec)
        if spec.stack != "dockerfile":
            raise InvalidRequest("hanya aplikasi dengan Dockerfile yang dibangun di host")
        token = secrets.token_hex(3)
        with self.state.lock_app(spec.name):
            before = self.state.load(spec.name)
            if before is not None and before.desired == REMOVED:
                raise InvalidRequest(f"aplikasi {spec.name} sedang dihapus")
            if before is not None and any(r.release_id == spec.release_id
                                          for r in before.releases()):
                raise InvalidRequest(f"rilis {spec.release_id} aplikasi {spec.name} sudah dipasang")
            self._forget_build(spec.name, spec.release_id, before)  # a build asked again: anew
            work = self.state.builds_dir(spec.name) / f".work-{token}"
            work.mkdir(parents=True, mode=0o700)
            target = self.state.build_dir(spec.name, spec.release_id)
            image_id: str | None = None
            try:
                context = releases.unpack(self.artifacts.path(spec.artifact_sha256), work,
                                          "context", spec.docroot)
                plan = releases.check_dockerfile(context, spec.dockerfile)
                base = self.runtime.image_facts(plan.base_image)
                if base is None:
                    raise RuntimeUnavailable(f"image {plan.base_image} belum ada di host ini")
                image_id = self.runtime.build(spec.name, spec.release_id,
                                              f"{spec.release_id}-{token}", context,
                                              spec.dockerfile, spec.artifact_sha256)
                own = self._own_layers(spec.name, image_id, base)
                layers_dir = work / "layers"
                layers_dir.mkdir(mode=0o700)
                saved = self.runtime.save_layers(image_id, set(own), layers_dir,
                                                 defaults.BUILD_LAYERS_MAX_BYTES) if own else {}
                target.mkdir(mode=0o700)
                output = builds.changed_files([saved[layer] for layer in own], context,
                                              target / "output.tar")
                result = BuildResult(app=spec.name, release_id=spec.release_id,
                                     artifact_sha256=spec.artifact_sha256, image_id=image_id,
                                     base_image=plan.base_image, output=output,
                                     seconds=round(time.monotonic() - started, 3))
                _write_private(target / "build.json",
                               json.dumps({**result.to_dict(), "created_at": time.time()}))
            except BaseException:
                if image_id is not None:
                    with contextlib.suppress(AgentError):
                        self.runtime.remove_image(image_id)
                shutil.rmtree(target, ignore_errors=True)
                raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
            logger.info("built %s release %s: image %s, %s files to scan, %s unchanged",
                        spec.name, spec.release_id, image_id, output.files, output.unchanged)
            return result

    def build_output(self, app: str, release_id: int) -> Path:
        """Return the tar of the files a kept build of `app`'s release made; raise UnknownBuild."""
        path = self._build_dir(app, release_id) / "output.tar"
        if not path.is_file():
            raise UnknownBuild(f"build rilis {release_id} aplikasi {app} tidak ada di host ini")
        return path

    def discard_build(self, app: str, release_id: int) -> None:
        """Drop a build no deploy will use (its files were not cleared): its image and its files."""
        directory = self._build_dir(app, release_id)
        with self.state.lock_app(app):
            if not directory.is_dir():
                raise UnknownBuild(f"build rilis {release_id} aplikasi {app} tidak ada di host ini")
            self._forget_build(app, release_id, self.state.load(app))

    def rollback(self, app: str) -> DeployResult:
        """Return to the previous release the same way a deploy goes (health check, then switch)."""
        started = time.monotonic()
        with self.state.lock_app(app):
            record = self._load(app)
            self._recover(record)
            if not record.previous:
                raise UnknownRelease(f"aplikasi {app} tidak memiliki rilis sebelumnya")
            target = copy.deepcopy(record.previous[0])
            target.instance = None
            if not Path(target.directory).is_dir() or not self.runtime.image_exists(target.image):
                raise UnknownRelease(
                    f"rilis {target.release_id} aplikasi {app} sudah tidak tersimpan")
            previous = record.current.release_id if record.current else None
            record.desired = RUNNING
            self._switch(record, target, fallback=copy.deepcopy(record))
            return self._result(record, previous, started)

    def set_env(self, app: str, env: dict[str, str]) -> DeployResult:
        """Replace the app's environment and roll its current release onto it without downtime."""
        started = time.monotonic()
        self._check_env(env)
        with self.state.lock_app(app):
            record = self._load(app)
            self._recover(record)
            fallback = copy.deepcopy(record)
            record.env = dict(env)
            return self._roll(record, fallback, started)

    def set_storage(self, app: str, storage_mb: int) -> AppStatus:
        """Give the app's writable data a new limit, keeping the data.

        A larger limit is applied while the app runs where the kernel allows it; otherwise, and to
        shrink, the app stops for the moment its volume is resized. A limit below what the data
        needs is refused (InvalidRequest) and changes nothing.
        """
        self._check_storage(storage_mb)
        with self.state.lock_app(app):
            record = self._load(app)
            self._recover(record)
            data = self.state.data_dir(app)
            if self.volumes.exists(app) and storage_mb != self.volumes.size_mb(app):
                usage = self.volumes.usage(app, data)
                if usage is not None and usage.used_bytes > storage_mb * MIB:
                    raise InvalidRequest(
                        f"data aplikasi {app} sudah memakai {-(-usage.used_bytes // MIB)} MiB;"
                        f" batas {storage_mb} MiB lebih kecil dari itu")
                grown = (usage is not None and usage.mounted and storage_mb > usage.limit_mb
                         and self.volumes.grow_online(app, data, storage_mb))
                if not grown:
                    self._offline(record, lambda: self.volumes.resize_offline(app, data,
                                                                              storage_mb))
            record.storage_mb = storage_mb
            self.state.save(record)
            logger.info("storage limit of %s set to %d MiB", app, storage_mb)
            return self._status(record)

    def reset_database_password(self, app: str) -> DeployResult:
        """Give the app's database account a new password and roll the app onto it.

        If the app does not come up with it, the old password is put back.
        """
        started = time.monotonic()
        with self.state.lock_app(app):
            record = self._load(app)
            self._recover(record)
            if record.database is None:
                raise InvalidRequest(f"aplikasi {app} tidak memiliki basis data")
            fallback = copy.deepcopy(record)
            databases = self._databases()
            record.database = databases.reset_password(app)
            try:
                return self._roll(record, fallback, started)
            except BaseException:
                assert fallback.database is not None
                databases.set_password(app, fallback.database.password)
                raise

    # --- start, stop, restart --------------------------------------------------------------------

    def start(self, app: str) -> AppStatus:
        """Start a stopped app and point its vhost back at it once it answers."""
        with self.state.lock_app(app):
            record = self._load(app)
            self._recover(record)
            release = self._current(record)
            record.desired = RUNNING
            self.state.save(record)
            spec = self._container_spec(record, release)
            try:
                if self.runtime.status(spec.name) is None:
                    self.runtime.run(spec, self._user())
                else:
                    self.runtime.start(spec.name)
                self.runtime.wait_healthy(spec, release.spec.health)
                self._publish(record)
            except BaseException:
                record.desired = STOPPED
                self.state.save(record)
                with contextlib.suppress(AgentError):
                    self.runtime.stop(spec.name)
                raise
            return self._status(record)

    def stop(self, app: str) -> AppStatus:
        """Stop the app's container; its vhost answers 503 until it is started again."""
        with self.state.lock_app(app):
            record = self._load(app)
            self._recover(record)
            release = self._current(record)
            record.desired = STOPPED
            self.state.save(record)
            self._publish(record)
            self.runtime.stop(self._container_name(record.name, release))
            return self._status(record)

    def restart(self, app: str) -> AppStatus:
        """Restart the app's container (a short interruption) and wait until it answers."""
        with self.state.lock_app(app):
            record = self._load(app)
            self._recover(record)
            release = self._current(record)
            record.desired = RUNNING
            self.state.save(record)
            spec = self._container_spec(record, release)
            if not self.runtime.restart(spec.name):
                self.runtime.run(spec, self._user())
            self.runtime.wait_healthy(spec, release.spec.health)
            self._publish(record)
            return self._status(record)

    # --- reading --------------------------------------------------------------------------------

    def status(self, app: str) -> AppStatus:
        return self._status(self._load(app))

    def apps(self) -> list[AppStatus]:
        """Return the status of every app kept on this host."""
        found = []
        for name in self.state.names():
            record = self.state.load(name)
            if record is not None:
                found.append(self._status(record))
        return found

    def logs(self, app: str, tail: int = 200, since: datetime | int | None = None,
             source: str = "app") -> str:
        """Return the last `tail` lines of the app's output ("app") or nginx log ("access"/"error").

        `since` (a datetime or a Unix time) applies to the app's output.
        """
        if source not in LOG_SOURCES:
            raise InvalidRequest(f"sumber log tidak dikenal: {source!r}")
        if not 0 <= int(tail) <= 10_000:
            raise InvalidRequest("tail harus antara 0 dan 10000")
        record = self._load(app)
        if source == "app":
            if record.current is None or record.current.instance is None:
                return ""
            return self.runtime.logs(self._container_name(app, record.current), tail, since)
        access, error = self.vhosts.log_paths(app)
        path = access if source == "access" else error
        return _tail([rotated(path, 1), path], int(tail))

    def rotate_logs(self, max_bytes: int = defaults.LOG_ROTATE_BYTES) -> list[Path]:
        """Rotate the nginx logs of this host's apps that grew past `max_bytes`; return them."""
        return self.vhosts.rotate_logs(self.state.names(), max_bytes)

    def stats(self, app: str) -> ResourceStats | None:
        """Return the app's memory, CPU and process counts now, or None if it is not running."""
        record = self._load(app)
        if record.current is None or record.current.instance is None:
            return None
        found: ContainerStats | None = self.runtime.stats(self._container_name(app, record.current))
        if found is None:
            return None
        return ResourceStats(app, found.memory_bytes, found.memory_limit_bytes, found.cpu_percent,
                             found.pids)

    def env(self, app: str) -> dict[str, str]:
        """Return the app's own environment (without the variables the agent adds)."""
        return dict(self._load(app).env)

    def database(self, app: str) -> DatabaseAccount | None:
        """Return the app's database connection, password included, or None."""
        return self._load(app).database

    def facts(self) -> HostFacts:
        """Return the host's capacity, versions and the apps it runs."""
        memory = _meminfo()
        disk = {}
        paths = {str(self.state.root)}
        with contextlib.suppress(AgentError):
            paths.add(str(self.runtime.info().get("DockerRootDir") or ""))
        for path in sorted(p for p in paths if p):
            with contextlib.suppress(OSError):
                usage = shutil.disk_usage(path)
                disk[path] = {"total_bytes": usage.total, "free_bytes": usage.free}
        mariadb_version = None
        if self.databases is not None:
            with contextlib.suppress(DatabaseError):
                mariadb_version = self.databases.version()
        records = [r for r in (self.state.load(n) for n in self.state.names()) if r is not None]
        volumes = [u for u in (self.volumes.usage(r.name, self.state.data_dir(r.name))
                               for r in records) if u is not None]
        running_names = {c.name for c in self.runtime.owned() if c.status == "running"}
        running = sorted(r.name for r in records if r.current and r.current.instance
                         and self._container_name(r.name, r.current) in running_names)
        meant = [r for r in records if r.desired == RUNNING and r.current]
        return HostFacts(
            hostname=os.uname().nodename,
            cpus=os.cpu_count() or 1,
            load_average=[round(x, 2) for x in os.getloadavg()],
            memory_total_bytes=memory.get("MemTotal", 0),
            memory_available_bytes=memory.get("MemAvailable", 0),
            disk=disk,
            docker_version=self.runtime.version(),
            nginx_version=self.vhosts.version(),
            mariadb_version=mariadb_version,
            apps_total=len(records),
            apps_running=running,
            memory_committed_mb=sum(r.current.spec.limits.memory_mb for r in meant if r.current),
            cpus_committed=round(sum(r.current.spec.limits.cpus for r in meant if r.current), 2),
            storage_committed_mb=sum(u.limit_mb for u in volumes),
            storage_used_bytes=sum(u.used_bytes for u in volumes),
            app_network=firewall_facts(self.firewall),
        )

    # --- certificates ----------------------------------------------------------------------------

    def set_certificate(self, app: str, certificate_pem: str, key_pem: str) -> None:
        """Serve the app over TLS with its own certificate (full chain) and key."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            cert = x509.load_pem_x509_certificate(certificate_pem.encode())
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except ValueError as exc:
            raise InvalidRequest(f"sertifikat atau kunci tidak sah: {exc}") from exc
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        if (cert.public_key().public_bytes(serialization.Encoding.PEM, public)
                != key.public_key().public_bytes(serialization.Encoding.PEM, public)):
            raise InvalidRequest("kunci tidak cocok dengan sertifikat")
        with self.state.lock_app(app):
            record = self._load(app)
            directory = self.state.certs_dir(app)
            saved = {name: _read(directory / name) for name in ("fullchain.pem", "privkey.pem")}
            directory.mkdir(mode=0o700, exist_ok=True)
            _write_private(directory / "fullchain.pem", certificate_pem)
            _write_private(directory / "privkey.pem", key_pem)
            try:
                self._write_vhosts({app: record})
            except BaseException:
                for name, text in saved.items():
                    if text is None:
                        (directory / name).unlink(missing_ok=True)
                    else:
                        _write_private(directory / name, text)
                raise

    def remove_certificate(self, app: str) -> None:
        """Stop serving the app with its own certificate (a wildcard may still cover it)."""
        with self.state.lock_app(app):
            record = self._load(app)
            shutil.rmtree(self.state.certs_dir(app), ignore_errors=True)
            self._write_vhosts({app: record})

    # --- removal and retention -------------------------------------------------------------------

    def remove(self, app: str) -> RemovalReport:
        """Remove the app: containers, vhost, network, code, data, logs, database (dumped first).

        Only the final database dump remains, in the state directory's dumps/.
        """
        with self.state.lock_app(app):
            record = self._load(app)
            record.desired = REMOVED
            self.state.save(record)
            return self._finish_removal(record)

    def prune(self) -> PruneReport:
        """Drop releases beyond the retention, and images and code no kept release uses."""
        report = PruneReport()
        for name in self.state.names():
            with self.state.try_lock_app(name) as held:
                if not held:
                    continue
                record = self.state.load(name)
                if record is None or record.desired == REMOVED:
                    continue
                dropped = record.previous[defaults.KEEP_RELEASES:]
                if dropped:
                    record.previous = record.previous[:defaults.KEEP_RELEASES]
                    self.state.save(record)
                    for release in dropped:
                        self._discard_release(release, record)
                        report.releases_removed.append(f"{name}:{release.release_id}")
                kept = {r.directory for r in record.releases()}
                for directory in _subdirs(self.state.releases_dir(name)):
                    if str(directory) not in kept:
                        releases.forget(directory)
                        report.releases_removed.append(f"{name}:{directory.name}")
        for name in [d.name for d in _subdirs(self.state.root / "builds")]:
            with self.state.try_lock_app(name) as held:
                if not held:
                    continue
                record = self.state.load(name)
                for leftover in self.state.builds_dir(name).glob(".work-*"):
                    shutil.rmtree(leftover, ignore_errors=True)  # an agent died mid-build
                for directory in _subdirs(self.state.builds_dir(name)):
                    if not directory.name.isdigit():
                        continue
                    built = _read_build(directory)
                    if built is None or built.get("created_at", 0) < time.time() - \
                            defaults.BUILD_KEEP_S:
                        removed = self._forget_build(name, int(directory.name), record)
                        report.builds_removed.append(f"{name}:{directory.name}")
                        if removed is not None:
                            report.images_removed.append(removed)
        for image_id, (app, _release) in self.runtime.owned_images().items():
            with self.state.try_lock_app(app) as held:
                if not held:
                    continue  # maybe being built right now
                record = self.state.load(app)
                if record is not None and image_id in self._image_ids(record):
                    continue
                if image_id in self._build_images(app):
                    continue  # built, waiting for its scan and deploy
                if self.runtime.remove_image(image_id):
                    report.images_removed.append(image_id)
        report.bytes_reclaimed = self.runtime.prune_dangling()
        return report

    # --- reconcile -------------------------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Make Docker and nginx match the desired state; touch nothing this agent does not own.

        Restarts missing or stopped containers of running apps, rewrites missing or changed vhosts,
        finishes removals and deploys a dead agent left half-done, and removes this agent's
        containers, vhosts and networks that no app wants. Apps busy in another operation are
        skipped (and listed) until the next round.
        """
        report = ReconcileReport()
        self.protect_network(report)  # first: containers are (re)started only behind the rules
        with contextlib.ExitStack() as held:
            records: dict[str, AppRecord] = {}
            for name in self.state.names():
                if not held.enter_context(self.state.try_lock_app(name)):
                    report.busy.append(name)
                    continue
                record = self.state.load(name)
                if record is not None:
                    records[name] = record
            wanted_containers: set[str] = set()
            vhost_records: dict[str, AppRecord] = {}
            for name, record in list(records.items()):
                try:
                    if record.desired == REMOVED:
                        self._finish_removal(record)
                        del records[name]
                        report.actions.append(f"{name}: penghapusan diselesaikan")
                        continue
                    if record.pending is not None:
                        self._drop_pending(record)
                        report.actions.append(f"{name}: sisa deploy yang terputus dibersihkan")
                    self._remount(record, report)
                    self._reconcile_container(record, report, wanted_containers)
                    vhost_records[name] = record
                except AgentError as exc:
                    report.errors.append(f"{name}: {exc}")
            self._sweep(set(records) | set(report.busy), wanted_containers, report)
            changes = {name: self._vhost_text(record) for name, record in vhost_records.items()}
            changes = {name: text for name, text in changes.items()
                       if self.vhosts.read(name) != text}
            for name in self.vhosts.owned():
                if name not in records and name not in report.busy:
                    changes[name] = None
            self._apply_vhosts(changes, report)
        return report

    def protect_network(self, report: ReconcileReport | None = None) -> None:
        """Install or repair the app network's firewall; a failure is logged and reported."""
        if self.firewall is None:
            return
        report = report if report is not None else ReconcileReport()
        try:
            if self.firewall.ensure().changed:
                report.actions.append("jaringan aplikasi: aturan firewall dipasang")
        except FirewallError as exc:
            logger.error("app network rules are NOT in place: %s", exc)
            report.errors.append(f"jaringan aplikasi: {exc}")

    def _remount(self, record: AppRecord, report: ReconcileReport) -> None:
        """Mount the app's data volume again where it is gone (a reboot), before its container runs.

        A container running without it would write to the bare directory beneath, past its limit:
        it is stopped first, and started again by the container check that follows.
        """
        data = self.state.data_dir(record.name)
        if not self.volumes.exists(record.name) or self.volumes.mounted(record.name, data):
            return
        release = record.current
        if release is not None and release.instance is not None:
            name = self._container_name(record.name, release)
            if self.runtime.status(name) in ("running", "restarting"):
                self.runtime.stop(name)
        self.volumes.ensure(record.name, data, record.storage_mb)
        report.actions.append(f"{record.name}: volume data dipasang kembali")

    def _reconcile_container(self, record: AppRecord, report: ReconcileReport,
                             wanted: set[str]) -> None:
        release = record.current
        if release is None or release.instance is None:
            return
        name = self._container_name(record.name, release)
        wanted.add(name)
        state = self.runtime.status(name)
        if record.desired == RUNNING:
            if state is None:
                self.runtime.run(self._container_spec(record, release), self._user())
                report.actions.append(f"{record.name}: kontainer {name} dibuat ulang")
            elif state not in ("running", "restarting"):
                self.runtime.start(name)
                report.actions.append(f"{record.name}: kontainer {name} dijalankan")
        elif state in ("running", "restarting"):
            self.runtime.stop(name)
            report.actions.append(f"{record.name}: kontainer {name} dihentikan")

    def _sweep(self, known: set[str], wanted: set[str], report: ReconcileReport) -> None:
        """Remove this agent's containers and networks that no known app wants."""
        busy = set(report.busy)
        for container in self.runtime.owned():
            app = container.labels.get(defaults.LABEL_APP, "")
            if app in busy or container.name in wanted:
                continue
            try:
                self.runtime.remove(container.name)
                report.actions.append(f"{app}: kontainer {container.name} yang lebih dihapus")
            except AgentError as exc:
                report.errors.append(f"{app}: {exc}")
        for network, app in self.runtime.owned_networks().items():
            if app not in known:
                try:
                    self.runtime.remove_network(app)
                    report.actions.append(f"{app}: jaringan {network} dihapus")
                except AgentError as exc:
                    report.errors.append(f"{app}: {exc}")
        for directory in _subdirs(self.state.root / "releases"):
            if directory.name in known:
                continue
            # A first deploy unpacks before its app has a state file: it holds the lock, though.
            with self.state.try_lock_app(directory.name) as free:
                if free and self.state.load(directory.name) is None:
                    releases.forget(directory)
        for app in self.volumes.apps():
            if app in known:
                continue
            with self.state.try_lock_app(app) as free:
                if not free or self.state.load(app) is not None:
                    continue
                try:
                    self.volumes.remove(app, self.state.data_dir(app))
                except AgentError as exc:
                    report.errors.append(f"{app}: {exc}")
                    continue
                tenantfs.remove_tree(self.state.data_dir(app))
                report.actions.append(f"{app}: volume data yang tak bertuan dihapus")

    def _apply_vhosts(self, changes: dict[str, str | None], report: ReconcileReport) -> None:
        if not changes:
            return
        try:
            self.vhosts.apply(changes)
        except VhostError:
            # One bad file must not keep the others from converging: apply them one by one.
            for name, text in changes.items():
                try:
                    self.vhosts.apply({name: text})
                except VhostError as exc:
                    report.errors.append(f"{name}: {exc}: {exc.output}")
                    continue
                report.actions.append(f"{name}: vhost {'ditulis ulang' if text else 'dihapus'}")
            return
        for name, text in changes.items():
            report.actions.append(f"{name}: vhost {'ditulis ulang' if text else 'dihapus'}")

    # --- internals: checking requests ------------------------------------------------------------

    def _check_spec(self, spec: AppSpec) -> None:
        try:
            app_name(spec.name)
        except InvalidName as exc:
            raise InvalidRequest(str(exc)) from exc
        if isinstance(spec.release_id, bool) or not isinstance(spec.release_id, int) \
                or not 0 < spec.release_id < 2**31:
            raise InvalidRequest(f"nomor rilis tidak sah: {spec.release_id!r}")
        if not isinstance(spec.artifact_sha256, str) or not SHA256.match(spec.artifact_sha256):
            raise InvalidRequest("sha256 artefak tidak sah")
        if not self.artifacts.has(spec.artifact_sha256):
            raise UnknownArtifact(f"artefak {spec.artifact_sha256} tidak ada di host ini")
        self._check_env(spec.env)
        limits, health = spec.limits, spec.health
        if not (32 <= limits.memory_mb <= 65536 and 0.05 <= limits.cpus <= 64
                and 16 <= limits.pids <= 32768):
            raise InvalidRequest("batas sumber daya di luar rentang yang diizinkan")
        if not (isinstance(health.path, str) and health.path.startswith("/")
                and health.path.isprintable() and " " not in health.path and len(health.path) < 512
                and 1 <= health.attempts <= 600 and 0 <= health.interval_s <= 60
                and 0.1 <= health.timeout_s <= 60):
            raise InvalidRequest("pemeriksaan kesehatan tidak sah")
        if not 1 <= spec.upload_max_mb <= 4096:
            raise InvalidRequest("batas unggahan harus antara 1 dan 4096 MB")
        self._check_storage(spec.storage_mb)
        if spec.database and self.databases is None:
            raise InvalidRequest("host ini tidak memiliki MariaDB untuk aplikasi")
        if spec.docroot is not None:
            frameworks.relative_path(spec.docroot, allow_root=True)
        for path in spec.writable_paths or ():
            frameworks.relative_path(path)
        if spec.stack in defaults.RUNTIME_IMAGES \
                and not self.runtime.image_exists(defaults.RUNTIME_IMAGES[spec.stack]):
            image = defaults.RUNTIME_IMAGES[spec.stack]
            raise RuntimeUnavailable(f"image {image} belum ada di host ini")

    @staticmethod
    def _check_image_id(spec: AppSpec, image_id: str | None) -> None:
        if spec.stack != "dockerfile":
            if image_id is not None:
                raise InvalidRequest("hanya aplikasi dengan Dockerfile yang dipasang dari image")
            return
        if image_id is None:
            raise UnsignedImage(f"aplikasi {spec.name} dengan Dockerfile hanya dipasang dari image "
                                f"hasil build yang ditandatangani panel")
        if not isinstance(image_id, str) or not IMAGE_ID.match(image_id):
            raise InvalidRequest(f"id image tidak sah: {image_id!r}")

    def _check_fqdn_free(self, app: str, fqdn: str) -> None:
        for other in self.state.names():
            record = self.state.load(other) if other != app else None
            if record is not None and record.fqdn == fqdn:
                raise InvalidRequest(f"{fqdn} sudah dipakai aplikasi {other} di host ini")

    @staticmethod
    def _check_storage(storage_mb: int) -> None:
        if isinstance(storage_mb, bool) or not isinstance(storage_mb, int) \
                or not defaults.STORAGE_MIN_MB <= storage_mb <= defaults.STORAGE_MAX_MB:
            raise InvalidRequest(f"batas penyimpanan harus antara {defaults.STORAGE_MIN_MB} dan"
                                 f" {defaults.STORAGE_MAX_MB} MiB")

    @staticmethod
    def _check_env(env: dict[str, str]) -> None:
        if not isinstance(env, dict):
            raise InvalidRequest("env harus berupa objek")
        size = 0
        for key, value in env.items():
            try:
                env_key(key)
            except InvalidName as exc:
                raise InvalidRequest(str(exc)) from exc
            if key in defaults.RESERVED_ENV:
                raise InvalidRequest(f"variabel {key} diatur oleh Wadah dan tidak boleh diubah")
            if loads_code(key):
                raise InvalidRequest(f"variabel {key} membuat runtime memuat kode yang tidak pernah "
                                     "dipindai dan ditolak")
            if not isinstance(value, str) or "\0" in value:
                raise InvalidRequest(f"nilai variabel {key} harus teks tanpa karakter NUL")
            size += len(key) + len(value.encode())
        if size > defaults.ENV_MAX_BYTES:
            raise InvalidRequest(f"env melebihi {defaults.ENV_MAX_BYTES} bita")

    # --- internals: releases ---------------------------------------------------------------------

    def _prepare(self, spec: AppSpec, image_id: str | None = None) -> Release:
        """Unpack the artifact into a new release directory (a Dockerfile app: with its image)."""
        parent = self.state.releases_dir(spec.name)
        directory = releases.unpack(self.artifacts.path(spec.artifact_sha256), parent,
                                    f"{spec.release_id}-{secrets.token_hex(3)}", spec.docroot)
        try:
            if spec.stack == "dockerfile":
                plan = releases.check_dockerfile(directory, spec.dockerfile)
                base = plan.stack
                framework, docroot, writable = releases.layout(directory, base, spec.docroot,
                                                               spec.writable_paths)
                assert image_id is not None
                image = self._signed_image(spec, image_id, plan.base_image)
            else:
                base = spec.stack
                framework, docroot, writable = releases.layout(directory, base, spec.docroot,
                                                               spec.writable_paths)
                image = defaults.RUNTIME_IMAGES[spec.stack]
        except BaseException:
            releases.forget(directory)
            raise
        return Release(release_id=spec.release_id, spec=spec, framework=framework.name,
                       docroot=docroot, writable_paths=writable, image=image, base_stack=base,
                       directory=str(directory))

    def _signed_image(self, spec: AppSpec, image_id: str, base_image: str) -> str:
        """Return `image_id` if it is this release's build, on its runtime image; else refuse."""
        facts = self.runtime.image_facts(image_id)
        if facts is None or facts.id != image_id:
            raise UnsignedImage(f"image {image_id} tidak ada di host ini: rilis {spec.release_id} "
                                f"aplikasi {spec.name} harus dibangun dahulu")
        expected = {defaults.LABEL_AGENT: self.owner, defaults.LABEL_APP: spec.name,
                    defaults.LABEL_RELEASE: str(spec.release_id),
                    defaults.LABEL_ARTIFACT: spec.artifact_sha256}
        if any(facts.labels.get(key) != value for key, value in expected.items()):
            raise UnsignedImage(f"image {image_id} bukan hasil build rilis {spec.release_id} "
                                f"aplikasi {spec.name} dari artefak ini")
        base = self.runtime.image_facts(base_image)
        if base is None or facts.layers[:len(base.layers)] != base.layers \
                or _process_changes(facts, base):
            raise UnsignedImage(f"image {image_id} tidak dibangun di atas {base_image}")
        return image_id

    def _own_layers(self, app: str, image_id: str, base: ImageFacts) -> list[str]:
        """Return the layers a build added above its runtime image, oldest first.

        The build may add files, which are scanned; it may not change how the runtime image starts,
        its environment or its volumes, which no scan reads.
        """
        built = self.runtime.image_facts(image_id)
        if built is None or built.layers[:len(base.layers)] != base.layers:
            raise BuildFailed(f"image aplikasi {app} tidak dibangun di atas image runtime-nya")
        changed = _process_changes(built, base)
        if changed:
            raise BuildFailed(f"Dockerfile aplikasi {app} tidak boleh mengubah cara image runtime "
                              f"dijalankan (berubah: {', '.join(changed)}); variabel lingkungan "
                              f"aplikasi diatur lewat panel")
        return built.layers[len(base.layers):]

    def _build_dir(self, app: str, release_id: int) -> Path:
        try:
            app_name(app)
        except InvalidName as exc:
            raise InvalidRequest(str(exc)) from exc
        if isinstance(release_id, bool) or not isinstance(release_id, int) \
                or not 0 < release_id < 2**31:
            raise InvalidRequest(f"nomor rilis tidak sah: {release_id!r}")
        return self.state.build_dir(app, release_id)

    def _forget_build(self, app: str, release_id: int, record: AppRecord | None) -> str | None:
        """Remove a kept build's files and its image, unless a kept release runs that image.

        Return the id of the image removed, if one was.
        """
        directory = self.state.build_dir(app, release_id)
        built = _read_build(directory)
        image_id = built.get("image_id") if built else None
        removed = None
        if isinstance(image_id, str) and IMAGE_ID.match(image_id) \
                and not (record is not None and image_id in self._image_ids(record)):
            with contextlib.suppress(AgentError):
                removed = image_id if self.runtime.remove_image(image_id) else None
        shutil.rmtree(directory, ignore_errors=True)
        return removed

    def _image_ids(self, record: AppRecord) -> set[str]:
        """Return the ids of the images the app's kept releases run (tags resolved)."""
        found = set()
        for release in record.releases():
            if IMAGE_ID.match(release.image):
                found.add(release.image)
                continue
            facts = self.runtime.image_facts(release.image)
            if facts is not None:
                found.add(facts.id)
        return found

    def _build_images(self, app: str) -> set[str]:
        found = set()
        for directory in _subdirs(self.state.builds_dir(app)):
            built = _read_build(directory)
            if built is not None and isinstance(built.get("image_id"), str):
                found.add(built["image_id"])
        return found

    def _discard_release(self, release: Release, record: AppRecord | None = None) -> None:
        """Remove a release's code and built image, unless another kept release still uses them."""
        kept = record.releases() if record else []
        if not any(r.directory == release.directory for r in kept):
            releases.forget(Path(release.directory))
        if release.image not in defaults.RUNTIME_IMAGES.values() \
                and not any(r.image == release.image for r in kept):
            with contextlib.suppress(AgentError):
                self.runtime.remove_image(release.image)

    def _discard_new_app(self, app: str, created_database: bool) -> None:
        """Undo what a failed first deploy created, so the host is as it was before."""
        with contextlib.suppress(AgentError):
            for container in self.runtime.owned(app):
                self.runtime.remove(container.name)
            self.runtime.remove_network(app)
        if created_database:
            with contextlib.suppress(AgentError):
                self._databases().drop(app)
        try:
            self.volumes.remove(app, self.state.data_dir(app))
        except AgentError:
            logger.warning("the data volume of %s stays until reconcile removes it", app)
        else:
            tenantfs.remove_tree(self.state.data_dir(app))
        shutil.rmtree(self.state.releases_dir(app), ignore_errors=True)
        self.state.delete(app)

    # --- internals: the switch -------------------------------------------------------------------

    def _switch(self, record: AppRecord, release: Release, fallback: AppRecord | None) -> None:
        """Start `release` beside the current one, check it, switch the vhost, retire the old one.

        On failure the new container is removed, the vhost is as before, and `fallback` is saved
        as the app's state (None: the app did not exist).
        """
        instance = self.state.reserve_instance(record, release)
        switched = False
        try:
            spec = self._container_spec(record, release)
            for _attempt in range(defaults.PORT_ATTEMPTS - 1):
                try:
                    self.runtime.run(spec, self._user())
                    break
                except PortTaken:
                    instance = self.state.reserve_instance(record, release)
                    spec = self._container_spec(record, release)
            else:
                self.runtime.run(spec, self._user())
            self.runtime.wait_healthy(spec, release.spec.health)
            record.current, old = release, record.current
            try:
                self.vhosts.apply({record.name: self._vhost_text(record)})
                switched = True
                self.vhosts.wait_switched(record.fqdn, instance.token, release.spec.health.path)
            finally:
                record.current = old
        except BaseException as exc:
            name = instance.container_name(record.name, release.release_id)
            logs = exc.logs if isinstance(exc, DeployFailed) else ""
            if not logs:
                with contextlib.suppress(AgentError):
                    logs = self.runtime.logs(name, defaults.LOG_LINES_ON_FAILURE)
            with contextlib.suppress(AgentError):
                self.runtime.remove(name)
            if switched:
                with contextlib.suppress(AgentError):
                    if fallback is not None:
                        self._write_vhosts({record.name: fallback})
                    else:
                        self.vhosts.apply({record.name: None})
            if fallback is not None:
                fallback.pending = None
                self.state.save(fallback)
            else:
                self.state.delete(record.name)
            if isinstance(exc, DeployFailed) and not exc.logs:
                exc.logs = logs
            raise
        old = record.current
        record.current, record.pending = release, None
        retired: str | None = None
        if old is not None:
            if old.instance is not None:
                retired = self._container_name(record.name, old)
                old.instance = None
            record.previous = [r for r in record.previous if r.release_id != release.release_id]
            if old.release_id != release.release_id:
                record.previous.insert(0, old)
        dropped = record.previous[defaults.KEEP_RELEASES:]
        record.previous = record.previous[:defaults.KEEP_RELEASES]
        self.state.save(record)
        if retired is not None:
            self.vhosts.drain()  # nginx's old workers finish the requests they hold
            with contextlib.suppress(AgentError):
                self.runtime.remove(retired)
        if old is not None and old.release_id == release.release_id \
                and old.directory != release.directory:
            self._discard_release(old, record)
        for gone in dropped:
            self._discard_release(gone, record)

    def _roll(self, record: AppRecord, fallback: AppRecord, started: float) -> DeployResult:
        """Replace the current release's container by a new one, or just save if it is stopped."""
        release = self._current(record)
        if record.desired != RUNNING:
            self.state.save(record)
            return self._result(record, release.release_id, started)
        target = copy.deepcopy(release)
        target.instance = None
        self._switch(record, target, fallback=fallback)
        return self._result(record, release.release_id, started)

    def _offline(self, record: AppRecord, action: Callable[[], None]) -> None:
        """Run `action` with the app's container stopped, then start it and wait until it answers."""
        release = record.current
        stopped: str | None = None
        if release is not None and release.instance is not None:
            name = self._container_name(record.name, release)
            if self.runtime.status(name) in ("running", "restarting"):
                self.runtime.stop(name)
                stopped = name
        try:
            action()
        finally:
            if stopped is not None and release is not None:
                spec = self._container_spec(record, release)
                self.runtime.start(stopped)
                self.runtime.wait_healthy(spec, release.spec.health)

    def _recover(self, record: AppRecord) -> None:
        """Clean up what an agent that died mid-deploy left (its pending release)."""
        if record.pending is None:
            return
        self._drop_pending(record)
        with contextlib.suppress(AgentError):
            self._write_vhosts({record.name: record})

    def _drop_pending(self, record: AppRecord) -> None:
        pending = record.pending
        if pending is None:
            return
        if pending.instance is not None:
            self.runtime.remove(self._container_name(record.name, pending))
        kept = record.releases()
        record.pending = None
        if not any(r.directory == pending.directory for r in kept if r is not pending):
            releases.forget(Path(pending.directory))
        self.state.save(record)

    def _finish_removal(self, record: AppRecord) -> RemovalReport:
        app = record.name
        dump: Path | None = None
        if self.databases is not None and (record.database is not None
                                           or self.databases.exists(app)):
            if self.databases.exists(app):
                dump = self.databases.dump(app, self.state.dumps_dir)
            self.databases.drop(app)
        if self.vhosts.read(app) is not None:
            self.vhosts.apply({app: None})
        for container in self.runtime.owned(app):
            self.runtime.remove(container.name)
        self.runtime.remove_network(app)
        for release in record.releases():
            if release.image not in defaults.RUNTIME_IMAGES.values():
                self.runtime.remove_image(release.image)
        for image_id, (owner_app, _release) in self.runtime.owned_images().items():
            if owner_app == app:
                self.runtime.remove_image(image_id)
        self.volumes.remove(app, self.state.data_dir(app))  # its data goes with it; no copy is kept
        tenantfs.remove_tree(self.state.data_dir(app))
        for path in (self.state.releases_dir(app), self.state.certs_dir(app),
                     self.state.builds_dir(app)):
            shutil.rmtree(path, ignore_errors=True)
        for log in self.vhosts.log_files(app):
            log.unlink(missing_ok=True)
        self.state.delete(app)
        return RemovalReport(app=app, dump=str(dump) if dump else None)

    # --- internals: composing --------------------------------------------------------------------

    def _load(self, app: str) -> AppRecord:
        try:
            app_name(app)
        except InvalidName as exc:
            raise InvalidRequest(str(exc)) from exc
        record = self.state.load(app)
        if record is None or record.desired == REMOVED:
            raise UnknownApp(f"aplikasi {app} tidak ada di host ini")
        return record

    @staticmethod
    def _current(record: AppRecord) -> Release:
        if record.current is None or record.current.instance is None:
            raise UnknownRelease(f"aplikasi {record.name} belum memiliki rilis yang berjalan")
        return record.current

    def _databases(self) -> Databases:
        if self.databases is None:
            raise InvalidRequest("host ini tidak memiliki MariaDB untuk aplikasi")
        return self.databases

    @staticmethod
    def _user() -> str:
        return f"{defaults.APP_UID}:{defaults.APP_GID}"

    @staticmethod
    def _container_name(app: str, release: Release) -> str:
        assert release.instance is not None
        return release.instance.container_name(app, release.release_id)

    def _container_spec(self, record: AppRecord, release: Release) -> ContainerSpec:
        assert release.instance is not None
        env = dict(record.env)
        directory = Path(release.directory)
        code_dir: Path | None = directory
        if release.base_stack == "php":
            docroot = defaults.APP_MOUNT if release.docroot == "." \
                else f"{defaults.APP_MOUNT}/{release.docroot}"
            env[defaults.ENV_DOCROOT] = docroot
            env[defaults.ENV_WRITABLE] = " ".join(release.writable_paths)
            env[defaults.ENV_UPLOAD_MAX] = f"{record.upload_max_mb}M"
            env[defaults.ENV_POST_MAX] = f"{record.upload_max_mb + 1}M"
        elif release.docroot != ".":
            code_dir = directory.joinpath(*release.docroot.split("/"))  # static: serve the docroot
        if release.spec.stack == "dockerfile":
            code_dir = None  # the code is in the image
        db_socket = None
        if record.database is not None and self.databases is not None:
            env.update(self.databases.connection_env(record.database))
            db_socket = self.databases.settings.mounted_socket
        if release.writable_paths or self.volumes.exists(record.name):
            # Mounted before anything is seeded or bind-mounted: the data lands on the app's volume.
            self.volumes.ensure(record.name, self.state.data_dir(record.name), record.storage_mb)
        writable = releases.seed_writable(directory, self.state.data_dir(record.name),
                                          release.writable_paths)
        return ContainerSpec(
            app=record.name, release_id=release.release_id, instance=release.instance.token,
            port=release.instance.port, image=release.image, limits=release.spec.limits, env=env,
            code_dir=code_dir, writable=writable, db_socket=db_socket)

    def _certificate(self, record: AppRecord) -> tuple[Path, Path] | None:
        directory = self.state.certs_dir(record.name)
        own = (directory / "fullchain.pem", directory / "privkey.pem")
        return self.vhosts.certificate(record.fqdn, own if own[0].is_file() and own[1].is_file()
                                       else None)

    def _vhost_text(self, record: AppRecord) -> str | None:
        """Return the vhost `record` wants (None: none, the app has no release yet)."""
        release = record.current
        if release is None or release.instance is None:
            return None
        running = record.desired == RUNNING
        cert = self._certificate(record)
        site = Site(app=record.name, fqdn=record.fqdn,
                    port=release.instance.port if running else None,
                    instance=release.instance.token if running else "stopped",
                    upload_max_mb=record.upload_max_mb,
                    tls_cert=cert[0] if cert else None, tls_key=cert[1] if cert else None)
        return self.vhosts.render(site)

    def _publish(self, record: AppRecord) -> None:
        """Write the app's vhost and wait until nginx answers with it."""
        self._write_vhosts({record.name: record})
        release = self._current(record)
        assert release.instance is not None
        token = release.instance.token if record.desired == RUNNING else "stopped"
        self.vhosts.wait_switched(record.fqdn, token, release.spec.health.path)

    def _write_vhosts(self, records: dict[str, AppRecord]) -> None:
        self.vhosts.apply({name: self._vhost_text(record) for name, record in records.items()})

    def _status(self, record: AppRecord) -> AppStatus:
        release = record.current
        state = "absent"
        if release is not None and release.instance is not None:
            state = self.runtime.status(self._container_name(record.name, release)) or "absent"
        return AppStatus(
            name=record.name, fqdn=record.fqdn, desired=record.desired, state=state,
            release_id=release.release_id if release else None,
            previous_release_ids=[r.release_id for r in record.previous],
            stack=release.spec.stack if release else None,
            framework=release.framework if release else None,
            docroot=release.docroot if release else None,
            writable_paths=list(release.writable_paths) if release else [],
            port=release.instance.port if release and release.instance else None,
            database=record.database.database if record.database else None,
            deploying=record.pending is not None,
            storage_mb=record.storage_mb,
            storage=self.volumes.usage(record.name, self.state.data_dir(record.name)),
        )

    def _result(self, record: AppRecord, previous: int | None, started: float) -> DeployResult:
        release = self._current(record)
        assert release.instance is not None
        return DeployResult(
            app=record.name, release_id=release.release_id, previous_release_id=previous,
            port=release.instance.port, framework=release.framework, docroot=release.docroot,
            writable_paths=list(release.writable_paths), database=record.database,
            seconds=round(time.monotonic() - started, 3))


# --- small helpers -------------------------------------------------------------------------------


def _meminfo() -> dict[str, int]:
    found = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                found[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return found


def _tail(paths: list[Path], lines: int) -> str:
    """Return the last `lines` lines of log files read one after another, oldest first.

    Files that do not exist count as empty; older files are read only as far as needed.
    """
    data = b""
    for path in reversed(paths):
        if data.count(b"\n") > lines:
            break
        try:
            with path.open("rb") as file:
                file.seek(0, os.SEEK_END)
                size = file.tell()
                block, found = 64 * 1024, b""
                while size > 0 and (found + data).count(b"\n") <= lines:
                    step = min(block, size)
                    size -= step
                    file.seek(size)
                    found = file.read(step) + found
        except FileNotFoundError:
            continue
        if found and not found.endswith(b"\n"):
            found += b"\n"  # a line cut by the rotation ends with its file
        data = found + data
    text = data.decode(errors="replace").splitlines()
    return "\n".join(text[-lines:]) if lines else ""


def _subdirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return []


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


# A VOLUME would be a writable place in the code tree where nothing says PHP may not run.
_PROCESS_NAMES = {"Entrypoint": "ENTRYPOINT", "Cmd": "CMD", "Healthcheck": "HEALTHCHECK",
                  "Volumes": "VOLUME"}


def _process_changes(built: ImageFacts, base: ImageFacts) -> list[str]:
    """Name what of the runtime image's start command and environment a build changed."""
    changed = [name for key, name in _PROCESS_NAMES.items()
               if built.process.get(key) != base.process.get(key)]
    ours, theirs = built.process.get("Env") or {}, base.process.get("Env") or {}
    changed += [f"ENV {key}" for key in sorted(set(ours) | set(theirs))
                if ours.get(key) != theirs.get(key)]
    return changed


def _read_build(directory: Path) -> dict[str, Any] | None:
    """Return a kept build's record, or None if it is missing or unreadable."""
    try:
        found = json.loads((directory / "build.json").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _write_private(path: Path, text: str) -> None:
    private_files.write(path, text)


__all__ = ["AppStatus", "BuildResult", "DeployResult", "Host", "HostFacts", "PruneReport", "ReconcileReport",
           "RemovalReport", "ResourceStats"]
