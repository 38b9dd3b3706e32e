"""The pieces of one container host, and what every operation on an app does with them.

`HostParts` holds the state store, Docker, nginx, MariaDB, the data volumes and the artifact store,
and knows how an app's record becomes a container and a vhost. The operations (`agents.deploys`,
`agents.image_builds`, `agents.operations`, `agents.reconcile`, `agents.facts`) share one of it.
"""
from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker

from agents import defaults, frameworks, protocol, releases, tenantfs
from agents.convergence import CrashLoops
from agents.databases import Databases, MariaDBSettings
from agents.errors import (
    HostOperationError,
    InvalidRequest,
    RuntimeUnavailable,
    UnknownApp,
    UnknownArtifact,
    UnknownRelease,
)
from agents.firewall import AppFirewall
from agents.protocol import AppSpec, InvalidName, app_name
from agents.protocol.artifacts import ArtifactStore
from agents.runtime import ContainerSpec, Runtime
from agents.state import REMOVED, RUNNING, AppRecord, DatabaseAccount, ReleaseRecord, StateStore
from agents.vhosts import NginxSettings, Site, Vhosts
from agents.volumes import Volumes, VolumeUsage

# --- what the operations return ------------------------------------------------------------------


@dataclass(frozen=True)
class AppState:
    """What the agent knows of one app now: what is wanted, what runs, and its releases."""

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
    crash_loop: bool = False  # it keeps dying: the agent waits longer before each restart

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
class RemovalReport:
    app: str
    dump: str | None  # the final database dump, if the app had a database

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the parts -----------------------------------------------------------------------------------


class HostParts:
    """The state, Docker, nginx, MariaDB and volumes of one host, and an app's place among them."""

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
        self.crash_loops = CrashLoops()  # fed by the daemon's event follower

    # --- checking requests -----------------------------------------------------------------------

    def check_spec(self, spec: AppSpec) -> None:
        """Refuse a release this host cannot run: bad values, or what it needs is not here."""
        try:
            protocol.check_spec(spec)
        except protocol.InvalidSpec as exc:
            raise InvalidRequest(str(exc)) from exc
        if not self.artifacts.has(spec.artifact_sha256):
            raise UnknownArtifact(f"artefak {spec.artifact_sha256} tidak ada di host ini")
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

    def load(self, app: str) -> AppRecord:
        """Return the record of `app`; raise InvalidRequest or UnknownApp."""
        try:
            app_name(app)
        except InvalidName as exc:
            raise InvalidRequest(str(exc)) from exc
        record = self.state.load(app)
        if record is None or record.desired == REMOVED:
            raise UnknownApp(f"aplikasi {app} tidak ada di host ini")
        return record

    @staticmethod
    def current(record: AppRecord) -> ReleaseRecord:
        """Return the app's running release; raise UnknownRelease if it has none."""
        if record.current is None or record.current.instance is None:
            raise UnknownRelease(f"aplikasi {record.name} belum memiliki rilis yang berjalan")
        return record.current

    def require_databases(self) -> Databases:
        if self.databases is None:
            raise InvalidRequest("host ini tidak memiliki MariaDB untuk aplikasi")
        return self.databases

    # --- composing -------------------------------------------------------------------------------

    @staticmethod
    def user() -> str:
        return f"{defaults.APP_UID}:{defaults.APP_GID}"

    @staticmethod
    def container_name(app: str, release: ReleaseRecord) -> str:
        assert release.instance is not None
        return release.instance.container_name(app, release.release_id)

    def container_spec(self, record: AppRecord, release: ReleaseRecord) -> ContainerSpec:
        """Return how `release` of the app runs: image, limits, environment and mounts."""
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

    def vhost_text(self, record: AppRecord) -> str | None:
        """Return the vhost `record` wants (None: none, the app has no release yet)."""
        release = record.current
        if release is None or release.instance is None:
            return None
        running = record.desired == RUNNING
        cert = self._certificate(record)
        site = Site(app=record.name, fqdn=record.fqdn,
                    port=release.instance.port if running else None,
                    instance=release.instance.token if running else "stopped",
                    upload_max_mb=record.upload_max_mb, listen_address=record.listen_address,
                    tls_cert=cert[0] if cert else None, tls_key=cert[1] if cert else None)
        return self.vhosts.render(site)

    def publish(self, record: AppRecord) -> None:
        """Write the app's vhost and wait until nginx answers with it."""
        self.write_vhosts({record.name: record})
        release = self.current(record)
        assert release.instance is not None
        token = release.instance.token if record.desired == RUNNING else "stopped"
        self.vhosts.wait_switched(record.fqdn, token, release.spec.health.path,
                                  address=record.listen_address)

    def write_vhosts(self, records: dict[str, AppRecord]) -> None:
        self.vhosts.apply({name: self.vhost_text(record) for name, record in records.items()})

    def app_state(self, record: AppRecord) -> AppState:
        release = record.current
        state = "absent"
        if release is not None and release.instance is not None:
            state = self.runtime.status(self.container_name(record.name, release)) or "absent"
        return AppState(
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
            crash_loop=self.crash_loops.looping(record.name),
        )

    def result(self, record: AppRecord, previous: int | None, started: float) -> DeployResult:
        release = self.current(record)
        assert release.instance is not None
        return DeployResult(
            app=record.name, release_id=release.release_id, previous_release_id=previous,
            port=release.instance.port, framework=release.framework, docroot=release.docroot,
            writable_paths=list(release.writable_paths), database=record.database,
            seconds=round(time.monotonic() - started, 3))

    # --- cleaning up -----------------------------------------------------------------------------

    def recover(self, record: AppRecord) -> None:
        """Clean up what an agent that died mid-deploy left (its pending release)."""
        if record.pending is None:
            return
        self.drop_pending(record)
        with contextlib.suppress(HostOperationError):
            self.write_vhosts({record.name: record})

    def drop_pending(self, record: AppRecord) -> None:
        pending = record.pending
        if pending is None:
            return
        if pending.instance is not None:
            self.runtime.remove(self.container_name(record.name, pending))
        kept = record.releases()
        record.pending = None
        if not any(r.directory == pending.directory for r in kept if r is not pending):
            releases.forget(Path(pending.directory))
        self.state.save(record)

    def discard_release(self, release: ReleaseRecord, record: AppRecord | None = None) -> None:
        """Remove a release's code and built image, unless another kept release still uses them."""
        kept = record.releases() if record else []
        if not any(r.directory == release.directory for r in kept):
            releases.forget(Path(release.directory))
        if release.image not in defaults.RUNTIME_IMAGES.values() \
                and not any(r.image == release.image for r in kept):
            with contextlib.suppress(HostOperationError):
                self.runtime.remove_image(release.image)

    def finish_removal(self, record: AppRecord) -> RemovalReport:
        """Remove everything of the app but its final database dump."""
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


def subdirs(path: Path) -> list[Path]:
    """Return the directories in `path` (none if it is missing), hidden ones left out."""
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except FileNotFoundError:
        return []
