"""Bring the host back to what its state says (reconcile), and drop what no kept release uses (prune).

Both touch only what this agent owns, and skip an app another operation holds.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from agents import defaults, releases, tenantfs
from agents.errors import FirewallError, HostOperationError, VhostError
from agents.image_builds import ImageBuilds, read_build
from agents.parts import HostParts, subdirs
from agents.state import REMOVED, RUNNING, AppRecord

logger = logging.getLogger(__name__)


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


class Reconciler:
    """Make Docker, nginx, the volumes and the firewall of one host match its state."""

    def __init__(self, parts: HostParts, image_builds: ImageBuilds) -> None:
        self.parts = parts
        self.image_builds = image_builds

    def reconcile(self) -> ReconcileReport:
        """Make Docker and nginx match the desired state; touch nothing this agent does not own.

        Restarts missing or stopped containers of running apps, rewrites missing or changed vhosts,
        finishes removals and deploys a dead agent left half-done, and removes this agent's
        containers, vhosts and networks that no app wants. Apps busy in another operation are
        skipped (and listed) until the next round.
        """
        parts = self.parts
        report = ReconcileReport()
        self.protect_network(report)  # first: containers are (re)started only behind the rules
        with contextlib.ExitStack() as held:
            records: dict[str, AppRecord] = {}
            for name in parts.state.names():
                if not held.enter_context(parts.state.try_lock_app(name)):
                    report.busy.append(name)
                    continue
                record = parts.state.load(name)
                if record is not None:
                    records[name] = record
            wanted_containers: set[str] = set()
            vhost_records: dict[str, AppRecord] = {}
            for name, record in list(records.items()):
                try:
                    if record.desired == REMOVED:
                        parts.finish_removal(record)
                        del records[name]
                        report.actions.append(f"{name}: penghapusan diselesaikan")
                        continue
                    if record.pending is not None:
                        parts.drop_pending(record)
                        report.actions.append(f"{name}: sisa deploy yang terputus dibersihkan")
                    self._remount(record, report)
                    self._reconcile_container(record, report, wanted_containers)
                    vhost_records[name] = record
                except HostOperationError as exc:
                    report.errors.append(f"{name}: {exc}")
            self._sweep(set(records) | set(report.busy), wanted_containers, report)
            changes = {name: parts.vhost_text(record) for name, record in vhost_records.items()}
            changes = {name: text for name, text in changes.items()
                       if parts.vhosts.read(name) != text}
            for name in parts.vhosts.owned():
                if name not in records and name not in report.busy:
                    changes[name] = None
            self._apply_vhosts(changes, report)
        return report

    def reconcile_app(self, name: str) -> ReconcileReport:
        """Bring one app's volume, container and vhost back now: what a Docker event or drift asks.

        An app that is gone, being removed or left half-deployed gets the full reconcile, which
        owns those cases.
        """
        parts = self.parts
        report = ReconcileReport()
        with parts.state.try_lock_app(name) as free:
            if not free:
                report.busy.append(name)
                return report
            record = parts.state.load(name)
            if record is not None and record.desired != REMOVED and record.pending is None:
                try:
                    self._remount(record, report)
                    self._reconcile_container(record, report, set())
                    text = parts.vhost_text(record)
                    if parts.vhosts.read(name) != text:
                        self._apply_vhosts({name: text}, report)
                except HostOperationError as exc:
                    report.errors.append(f"{name}: {exc}")
                return report
        return self.reconcile()

    def drifted(self) -> list[str]:
        """Return the apps whose vhost is not what their state says: changed, missing or stray."""
        parts = self.parts
        kept = set(parts.state.names())
        found = [name for name in parts.vhosts.owned() if name not in kept]
        for name in sorted(kept):
            record = parts.state.load(name)
            if record is None or record.desired == REMOVED or record.pending is not None:
                continue
            if parts.vhosts.read(name) != parts.vhost_text(record):
                found.append(name)
        return found

    def protect_network(self, report: ReconcileReport | None = None) -> None:
        """Install or repair the app network's firewall; a failure is logged and reported."""
        firewall = self.parts.firewall
        if firewall is None:
            return
        report = report if report is not None else ReconcileReport()
        try:
            if firewall.ensure().changed:
                report.actions.append("jaringan aplikasi: aturan firewall dipasang")
        except FirewallError as exc:
            logger.error("app network rules are NOT in place: %s", exc)
            report.errors.append(f"jaringan aplikasi: {exc}")

    def _remount(self, record: AppRecord, report: ReconcileReport) -> None:
        """Mount the app's data volume again where it is gone (a reboot), before its container runs.

        A container running without it would write to the bare directory beneath, past its limit:
        it is stopped first, and started again by the container check that follows.
        """
        parts = self.parts
        data = parts.state.data_dir(record.name)
        if not parts.volumes.exists(record.name) or parts.volumes.mounted(record.name, data):
            return
        release = record.current
        if release is not None and release.instance is not None:
            name = parts.container_name(record.name, release)
            if parts.runtime.status(name) in ("running", "restarting"):
                parts.runtime.stop(name)
        parts.volumes.ensure(record.name, data, record.storage_mb)
        report.actions.append(f"{record.name}: volume data dipasang kembali")

    def _reconcile_container(self, record: AppRecord, report: ReconcileReport,
                             wanted: set[str]) -> None:
        parts = self.parts
        release = record.current
        if release is None or release.instance is None:
            return
        name = parts.container_name(record.name, release)
        wanted.add(name)
        state = parts.runtime.status(name)
        if record.desired == RUNNING:
            if state is None:
                parts.runtime.run(parts.container_spec(record, release), parts.user())
                report.actions.append(f"{record.name}: kontainer {name} dibuat ulang")
            elif state not in ("running", "restarting"):
                parts.runtime.start(name)
                report.actions.append(f"{record.name}: kontainer {name} dijalankan")
        elif state in ("running", "restarting"):
            parts.runtime.stop(name)
            report.actions.append(f"{record.name}: kontainer {name} dihentikan")

    def _sweep(self, known: set[str], wanted: set[str], report: ReconcileReport) -> None:
        """Remove this agent's containers and networks that no known app wants."""
        parts = self.parts
        busy = set(report.busy)
        for container in parts.runtime.owned():
            app = container.labels.get(defaults.LABEL_APP, "")
            if app in busy or container.name in wanted:
                continue
            try:
                parts.runtime.remove(container.name)
                report.actions.append(f"{app}: kontainer {container.name} yang lebih dihapus")
            except HostOperationError as exc:
                report.errors.append(f"{app}: {exc}")
        for network, app in parts.runtime.owned_networks().items():
            if app not in known:
                try:
                    parts.runtime.remove_network(app)
                    report.actions.append(f"{app}: jaringan {network} dihapus")
                except HostOperationError as exc:
                    report.errors.append(f"{app}: {exc}")
        for directory in subdirs(parts.state.root / "releases"):
            if directory.name in known:
                continue
            # A first deploy unpacks before its app has a state file: it holds the lock, though.
            with parts.state.try_lock_app(directory.name) as free:
                if free and parts.state.load(directory.name) is None:
                    releases.forget(directory)
        for app in parts.volumes.apps():
            if app in known:
                continue
            with parts.state.try_lock_app(app) as free:
                if not free or parts.state.load(app) is not None:
                    continue
                try:
                    parts.volumes.remove(app, parts.state.data_dir(app))
                except HostOperationError as exc:
                    report.errors.append(f"{app}: {exc}")
                    continue
                tenantfs.remove_tree(parts.state.data_dir(app))
                report.actions.append(f"{app}: volume data yang tak bertuan dihapus")

    def _apply_vhosts(self, changes: dict[str, str | None], report: ReconcileReport) -> None:
        if not changes:
            return
        vhosts = self.parts.vhosts
        try:
            vhosts.apply(changes)
        except VhostError:
            # One bad file must not keep the others from converging: apply them one by one.
            for name, text in changes.items():
                try:
                    vhosts.apply({name: text})
                except VhostError as exc:
                    report.errors.append(f"{name}: {exc}: {exc.output}")
                    continue
                report.actions.append(f"{name}: vhost {'ditulis ulang' if text else 'dihapus'}")
            return
        for name, text in changes.items():
            report.actions.append(f"{name}: vhost {'ditulis ulang' if text else 'dihapus'}")

    # --- retention -------------------------------------------------------------------------------

    def prune(self) -> PruneReport:
        """Drop releases beyond the retention, and images and code no kept release uses."""
        parts, image_builds = self.parts, self.image_builds
        state = parts.state
        report = PruneReport()
        for name in state.names():
            with state.try_lock_app(name) as held:
                if not held:
                    continue
                record = state.load(name)
                if record is None or record.desired == REMOVED:
                    continue
                dropped = record.previous[defaults.KEEP_RELEASES:]
                if dropped:
                    record.previous = record.previous[:defaults.KEEP_RELEASES]
                    state.save(record)
                    for release in dropped:
                        parts.discard_release(release, record)
                        report.releases_removed.append(f"{name}:{release.release_id}")
                kept = {r.directory for r in record.releases()}
                for directory in subdirs(state.releases_dir(name)):
                    if str(directory) not in kept:
                        releases.forget(directory)
                        report.releases_removed.append(f"{name}:{directory.name}")
        for name in [d.name for d in subdirs(state.root / "builds")]:
            with state.try_lock_app(name) as held:
                if not held:
                    continue
                record = state.load(name)
                for leftover in state.builds_dir(name).glob(".work-*"):
                    shutil.rmtree(leftover, ignore_errors=True)  # an agent died mid-build
                for directory in subdirs(state.builds_dir(name)):
                    if not directory.name.isdigit():
                        continue
                    built = read_build(directory)
                    if built is None or built.get("created_at", 0) < time.time() - \
                            defaults.BUILD_KEEP_S:
                        removed = image_builds.forget(name, int(directory.name), record)
                        report.builds_removed.append(f"{name}:{directory.name}")
                        if removed is not None:
                            report.images_removed.append(removed)
        for image_id, (app, _release) in parts.runtime.owned_images().items():
            with state.try_lock_app(app) as held:
                if not held:
                    continue  # maybe being built right now
                record = state.load(app)
                if record is not None and image_id in image_builds.image_ids(record):
                    continue
                if image_id in image_builds.kept_images(app):
                    continue  # built, waiting for its scan and deploy
                if parts.runtime.remove_image(image_id):
                    report.images_removed.append(image_id)
        report.bytes_reclaimed = parts.runtime.prune_dangling()
        return report
