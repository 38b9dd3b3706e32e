"""The operations an agent performs on its host, composed from runtime, vhosts, databases and state.

`HostAgent` is what the agent's API calls. It wires one `HostParts` (the host's state store, Docker,
nginx, MariaDB and volumes) into the collaborators that do the work: `Deployments` (deploy,
rollback, environment, database password), `ImageBuilds` (Dockerfile apps), `AppOperations`
(start, stop, restart, storage, certificates, removal), `Reconciler` (reconcile, prune) and
`HostReadings` (status, logs, stats, facts).

Every operation on an app holds that app's lock (a file lock, so it holds across processes); a
second operation on a busy app waits briefly, then gets AppBusy. Every failure is one of the errors
in `agents.errors`, and leaves the host as it was.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import docker

from agents import defaults
from agents.backups import Backup, Repository
from agents.convergence import CrashLoops
from agents.databases import Databases, MariaDBSettings
from agents.deploys import Deployments
from agents.facts import HostFacts, HostReadings, ResourceStats
from agents.firewall import AppFirewall
from agents.image_builds import BuildResult, ImageBuilds
from agents.operations import AppOperations
from agents.parts import AppState, DeployResult, HostParts, RemovalReport
from agents.protocol import AppSpec
from agents.protocol.artifacts import ArtifactStore
from agents.quarantine import Held
from agents.reconcile import PruneReport, Reconciler, ReconcileReport
from agents.recovery import AppRecovery
from agents.runtime import Runtime
from agents.state import DatabaseAccount, StateStore
from agents.vhosts import NginxSettings, Vhosts
from agents.volumes import Volumes


class HostAgent:
    """The apps of one container host: deploy, rollback, start/stop, logs, databases, reconcile."""

    def __init__(self, docker_client: docker.DockerClient, nginx: NginxSettings,
                 state_dir: Path | str, artifacts: ArtifactStore,
                 mariadb: MariaDBSettings | None = None,
                 firewall: AppFirewall | None = None,
                 volume_mounter: str = "mount",
                 backup_copies: tuple[Repository, ...] = ()) -> None:
        self.parts = HostParts(docker_client, nginx, state_dir, artifacts, mariadb, firewall,
                               volume_mounter)
        self.image_builds = ImageBuilds(self.parts)
        self.deployments = Deployments(self.parts, self.image_builds)
        self.operations = AppOperations(self.parts)
        self.reconciler = Reconciler(self.parts, self.image_builds)
        self.readings = HostReadings(self.parts)
        self.recovery = AppRecovery(self.parts, copies=backup_copies)

    # --- the parts, for the daemon, the CLI and the tests -----------------------------------------

    @property
    def state(self) -> StateStore:
        return self.parts.state

    @property
    def runtime(self) -> Runtime:
        return self.parts.runtime

    @property
    def vhosts(self) -> Vhosts:
        return self.parts.vhosts

    @property
    def volumes(self) -> Volumes:
        return self.parts.volumes

    @property
    def databases(self) -> Databases | None:
        return self.parts.databases

    @property
    def artifacts(self) -> ArtifactStore:
        return self.parts.artifacts

    @property
    def owner(self) -> str:
        return self.parts.owner

    @property
    def firewall(self) -> AppFirewall | None:
        return self.parts.firewall

    @firewall.setter
    def firewall(self, firewall: AppFirewall | None) -> None:
        self.parts.firewall = firewall

    # --- releases --------------------------------------------------------------------------------

    def deploy(self, spec: AppSpec, image_id: str | None = None) -> DeployResult:
        """Run release `spec` beside the current one; switch the vhost once it is healthy."""
        return self.deployments.deploy(spec, image_id)

    def rollback(self, app: str) -> DeployResult:
        """Return to the previous release the same way a deploy goes (health check, then switch)."""
        return self.deployments.rollback(app)

    def set_env(self, app: str, env: dict[str, str]) -> DeployResult:
        """Replace the app's environment and roll its current release onto it without downtime."""
        return self.deployments.set_env(app, env)

    def reset_database_password(self, app: str) -> DeployResult:
        """Give the app's database account a new password and roll the app onto it."""
        return self.deployments.reset_database_password(app)

    def build(self, spec: AppSpec) -> BuildResult:
        """Build a Dockerfile app's image for release `spec` and list the files the build made."""
        return self.image_builds.build(spec)

    def build_output(self, app: str, release_id: int) -> Path:
        """Return the tar of the files a kept build of `app`'s release made; raise UnknownBuild."""
        return self.image_builds.output(app, release_id)

    def discard_build(self, app: str, release_id: int) -> None:
        """Drop a build no deploy will use (its files were not cleared): its image and its files."""
        self.image_builds.discard(app, release_id)

    # --- operations ------------------------------------------------------------------------------

    def start(self, app: str) -> AppState:
        """Start a stopped app and point its vhost back at it once it answers."""
        return self.operations.start(app)

    def stop(self, app: str) -> AppState:
        """Stop the app's container; its vhost answers 503 until it is started again."""
        return self.operations.stop(app)

    def restart(self, app: str) -> AppState:
        """Restart the app's container (a short interruption) and wait until it answers."""
        return self.operations.restart(app)

    def set_storage(self, app: str, storage_mb: int) -> AppState:
        """Give the app's writable data a new limit, keeping the data."""
        return self.operations.set_storage(app, storage_mb)

    def set_certificate(self, app: str, certificate_pem: str, key_pem: str) -> None:
        """Serve the app over TLS with its own certificate (full chain) and key."""
        self.operations.set_certificate(app, certificate_pem, key_pem)

    def remove_certificate(self, app: str) -> None:
        """Stop serving the app with its own certificate (a wildcard may still cover it)."""
        self.operations.remove_certificate(app)

    def remove(self, app: str) -> RemovalReport:
        """Remove the app: containers, vhost, network, code, data, logs, database (dumped first)."""
        return self.operations.remove(app)

    # --- backups and quarantine ------------------------------------------------------------------

    def backup(self, app: str) -> Backup:
        """Back up the app now: its database, writable data, release and variables."""
        return self.recovery.backup(app)

    def backups(self, app: str) -> list[Backup]:
        """Return the app's backups, newest first."""
        return self.recovery.list_backups(app)

    def restore_backup(self, app: str, backup_id: str, into: str | None = None) -> AppState:
        """Restore a backup of `app` into it (after a safety backup) or into app `into`."""
        return self.recovery.restore(app, backup_id, into)

    def set_backup_schedule(self, app: str, hours: int) -> AppState:
        """Back the app up every `hours` hours (0: only on demand)."""
        return self.recovery.set_schedule(app, hours)

    def backup_due(self) -> list[Backup]:
        """Back up every app whose schedule says it is time, in one run."""
        return self.recovery.backup_due()

    def findings(self, app: str) -> list[Held]:
        """Return what the watcher quarantined or reported in the app's data, newest first."""
        return self.recovery.findings(app)

    def release_finding(self, app: str, finding_id: str) -> Held:
        """Put a quarantined file back (a false positive); its content is allowed from now on."""
        return self.recovery.release_finding(app, finding_id)

    def delete_finding(self, app: str, finding_id: str) -> None:
        """Delete a finding and its evidence for good."""
        self.recovery.delete_finding(app, finding_id)

    # --- reading ---------------------------------------------------------------------------------

    def status(self, app: str) -> AppState:
        """Return what the agent knows of the app now."""
        return self.readings.status(app)

    def apps(self) -> list[AppState]:
        """Return the status of every app kept on this host."""
        return self.readings.apps()

    def logs(self, app: str, tail: int = 200, since: datetime | int | None = None,
             source: str = "app") -> str:
        """Return the last `tail` lines of the app's output ("app") or nginx log ("access"/"error")."""
        return self.readings.logs(app, tail, since, source)

    def rotate_logs(self, max_bytes: int = defaults.LOG_ROTATE_BYTES) -> list[Path]:
        """Rotate the nginx logs of this host's apps that grew past `max_bytes`; return them."""
        return self.readings.rotate_logs(max_bytes)

    def stats(self, app: str) -> ResourceStats | None:
        """Return the app's memory, CPU and process counts now, or None if it is not running."""
        return self.readings.stats(app)

    def env(self, app: str) -> dict[str, str]:
        """Return the app's own environment (without the variables the agent adds)."""
        return self.readings.env(app)

    def database(self, app: str) -> DatabaseAccount | None:
        """Return the app's database connection, password included, or None."""
        return self.readings.database(app)

    def facts(self) -> HostFacts:
        """Return the host's capacity, versions and the apps it runs."""
        return self.readings.facts()

    # --- the host as a whole ---------------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Make Docker and nginx match the desired state; touch nothing this agent does not own."""
        return self.reconciler.reconcile()

    def reconcile_app(self, app: str) -> ReconcileReport:
        """Bring one app's volume, container and vhost back now (a Docker event or drift)."""
        return self.reconciler.reconcile_app(app)

    def drifted(self) -> list[str]:
        """Return the apps whose vhost is not what their state says: changed, missing or stray."""
        return self.reconciler.drifted()

    def events(self) -> Iterable[dict[str, Any]]:
        """Follow Docker's events about this agent's containers (blocks; ends if dockerd stops).

        The stream has `close()`, which ends a blocked read.
        """
        filters = {"type": "container", "label": f"{defaults.LABEL_AGENT}={self.owner}"}
        return self.runtime.client.events(decode=True, filters=filters)  # type: ignore[no-any-return]

    @property
    def crash_loops(self) -> CrashLoops:
        return self.parts.crash_loops

    def protect_network(self, report: ReconcileReport | None = None) -> None:
        """Install or repair the app network's firewall; a failure is logged and reported."""
        self.reconciler.protect_network(report)

    def prune(self) -> PruneReport:
        """Drop releases beyond the retention, and images and code no kept release uses."""
        return self.reconciler.prune()
