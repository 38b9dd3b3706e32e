"""An app's backups and quarantined files, as operations of its host (each under the app's lock).

Backups (agents/backups.py) are taken on a schedule (per app, daily by default) and on demand, and
restored into the same app (after a safety backup) or into another app of the host, with the app's
container stopped meanwhile. Quarantined files (agents/quarantine.py) are listed, released or
deleted for the panel.
"""
from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agents import defaults, private_files
from agents.backups import AppBackups, Backup, Repository, Retention
from agents.errors import InvalidRequest
from agents.parts import AppState, HostParts
from agents.protocol import InvalidName, app_name
from agents.quarantine import Held, Quarantine
from agents.state import RUNNING

logger = logging.getLogger(__name__)

SAFETY_REASON = "sebelum-pemulihan"  # the backup taken before a restore overwrites an app


class AppRecovery:
    """Back up, restore and release from quarantine the apps of one host."""

    def __init__(self, parts: HostParts, *, copies: tuple[Repository, ...] = (),
                 retention: Retention | None = None) -> None:
        self.parts = parts
        root = parts.state.root / defaults.BACKUPS_SUBDIR
        repository = Repository(str(root / "repository"), root / "restic.key",
                                cache_dir=root / "cache")
        self.backups = AppBackups(parts.state.root / "data", parts.databases, repository,
                                  copies=copies, retention=retention or Retention())
        self.quarantine = Quarantine(parts.state.root / defaults.QUARANTINE_SUBDIR)
        self._last_file = root / "last.json"

    # --- backups ---------------------------------------------------------------------------------

    def backup(self, app: str, reason: str = "manual") -> Backup:
        """Back up one app now."""
        with self.parts.state.lock_app(app):
            taken = self.backups.take(self.parts.load(app), reason)
        self._remember([taken])
        return taken

    def list_backups(self, app: str) -> list[Backup]:
        self.parts.load(app)
        return self.backups.list(app)

    def backup_due(self, now: datetime | None = None) -> list[Backup]:
        """Back up, in one run, every app whose schedule says it is time; return what was taken."""
        now = now or datetime.now(UTC)
        last = self._last()
        due = []
        for name in self.parts.state.names():
            record = self.parts.state.load(name)
            if record is None or record.desired not in (RUNNING, "stopped") or not record.backup_hours:
                continue
            previous = last.get(name)
            if previous is None or now - datetime.fromisoformat(previous) \
                    >= timedelta(hours=record.backup_hours):
                due.append((record, self.parts.state.lock_app(name)))
        if not due:
            return []
        taken = self.backups.run(due, reason="terjadwal")
        self._remember(taken)
        return taken

    def set_schedule(self, app: str, hours: int) -> AppState:
        """Back the app up every `hours` hours (0: only on demand)."""
        if not 0 <= hours <= defaults.BACKUP_HOURS_MAX:
            raise InvalidRequest(f"jadwal cadangan harus 0–{defaults.BACKUP_HOURS_MAX} jam")
        with self.parts.state.lock_app(app):
            record = self.parts.load(app)
            record.backup_hours = hours
            self.parts.state.save(record)
            return self.parts.app_state(record)

    def restore(self, app: str, backup_id: str, into: str | None = None) -> AppState:
        """Put a backup of `app` back into `app` (after a safety backup) or into app `into`.

        The target keeps its own release and variables; its data and database become the
        backup's. Its container is stopped meanwhile and started again after.
        """
        target_name = into or app
        parts = self.parts
        try:
            app_name(target_name)
        except InvalidName as exc:
            raise InvalidRequest(str(exc)) from exc
        if into is None:
            self.backup(app, SAFETY_REASON)
        with parts.state.lock_app(target_name):
            target = parts.load(target_name)
            release = parts.current(target)
            container = parts.container_name(target.name, release)
            parts.runtime.stop(container)
            try:
                self.backups.restore(app, backup_id, target)
            finally:
                if target.desired == RUNNING:
                    parts.runtime.start(container)
                    parts.runtime.wait_healthy(parts.container_spec(target, release),
                                               release.spec.health)
            logger.info("backup %s of %s restored into %s", backup_id, app, target_name)
            return parts.app_state(target)

    def _last(self) -> dict[str, str]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return dict(json.loads(self._last_file.read_text()))
        return {}

    def _remember(self, taken: list[Backup]) -> None:
        last = self._last() | {b.app: b.created_at for b in taken}
        private_files.write(self._last_file, json.dumps(last, indent=2))

    # --- quarantine ------------------------------------------------------------------------------

    def findings(self, app: str) -> list[Held]:
        self.parts.load(app)
        return self.quarantine.records(app)

    def release_finding(self, app: str, finding_id: str) -> Held:
        """Put a quarantined file back (a false positive); its content is allowed from now on."""
        with self.parts.state.lock_app(app):
            self.parts.load(app)
            return self.quarantine.release(app, finding_id, self.parts.state.data_dir(app))

    def delete_finding(self, app: str, finding_id: str) -> None:
        with self.parts.state.lock_app(app):
            self.parts.load(app)
            self.quarantine.delete(app, finding_id)

    def watched(self) -> dict[str, Path]:
        """Return the data directory of every app the watcher should watch."""
        found = {}
        for name in self.parts.state.names():
            record = self.parts.state.load(name)
            data = self.parts.state.data_dir(name)
            if record is not None and record.desired == RUNNING and data.is_dir():
                found[name] = data
        return found

    def describe(self) -> dict[str, Any]:
        return {"repository": self.backups.repository.location,
                "copies": [c.location for c in self.backups.copies]}
