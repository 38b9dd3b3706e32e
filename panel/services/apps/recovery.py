"""An app's backups, the files its host's agent found in its data, and its crash loops, as the panel
knows them.

Flask-free. Backups live on the app's host (agents/recovery.py): the panel lists them live from the
agent and asks it to take or restore one. Findings are the agent's; the panel keeps a copy
(`AppFinding`) so it can mail about new ones and keep who released or deleted them. Every function
raises `OperationRefused` (`AgentUnreachable` when no answer came) and leaves committing to the caller.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import App, AppFinding, AppStatus, FindingAction, Host, HostStatus, User
from panel.models.base import utcnow
from panel.services.apps import app_lifecycle
from panel.services.apps.app_operations import OperationRefused
from panel.services.infra.gateway import AgentClient, AgentGateway, AgentRefused, AgentUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

BACKUP_HOURS_DEFAULT, BACKUP_HOURS_MAX = 24, 24 * 30  # as the agent's defaults.BACKUP_HOURS_MAX
BACKUP_FIELDS = ("id", "created_at", "size", "release_id", "reason")
# The apps the periodic job asks about: those their host keeps running.
WATCHED_STATUSES = (AppStatus.RUNNING, AppStatus.CRASH_LOOP)


class AgentUnreachable(OperationRefused):
    """The app's host agent gave no answer (or has none yet): the API answers 503."""


class UnknownBackup(OperationRefused):
    """The app's host keeps no backup with that id (of that app): the API answers 404."""


def _agent(app: App, gateway: AgentGateway, call: Callable[[AgentClient], T]) -> T:
    host = app.host
    if host is None or app.live_release is None:
        raise OperationRefused(_("Aplikasi belum dipasang di host."))
    if host.cert_fingerprint is None:
        raise AgentUnreachable(_("Agen host %(host)s belum terdaftar.", host=host.name))
    try:
        with gateway.client(host) as agent:
            return call(agent)
    except AgentUnavailable as unavailable:
        raise AgentUnreachable(str(unavailable)) from unavailable
    except AgentRefused as refused:
        raise OperationRefused(str(refused)) from refused


# --- backups -----------------------------------------------------------------------------------


def list_backups(app: App, gateway: AgentGateway) -> list[dict[str, Any]]:
    """Return the app's backups as its host keeps them, newest first."""
    items = _agent(app, gateway, lambda agent: agent.backups(app.name))
    return [{key: item.get(key) for key in BACKUP_FIELDS} for item in items]


def expect_backup_possible(app: App) -> None:
    """Raise OperationRefused unless the app runs a release on a host (so there is something to keep)."""
    if app.host is None or app.live_release is None:
        raise OperationRefused(_("Aplikasi belum dipasang di host; belum ada yang dapat dicadangkan."))


def take_backup(app: App, user: User | None, gateway: AgentGateway) -> dict[str, Any]:
    """Back the app up now on its host; return the backup taken."""
    expect_backup_possible(app)
    taken = _agent(app, gateway, lambda agent: agent.backup(app.name))
    audit.record("app.backup", app, actor=user, backup=taken.get("id"))
    return {key: taken.get(key) for key in BACKUP_FIELDS}


def check_backup_id(backup_id: str) -> str:
    """Return `backup_id` if it has the shape of a backup's id, else raise OperationRefused."""
    if not isinstance(backup_id, str) or not backup_id.isascii() or not backup_id.isalnum() \
            or not 0 < len(backup_id) <= 64:
        raise OperationRefused(_("Id cadangan tidak sah."))
    return backup_id


def expect_backup_exists(app: App, backup_id: str, gateway: AgentGateway) -> None:
    """Raise UnknownBackup unless the app's host keeps backup `backup_id` of the app."""
    check_backup_id(backup_id)
    if backup_id not in {item["id"] for item in list_backups(app, gateway)}:
        raise UnknownBackup(_("Cadangan %(id)s tidak ditemukan untuk aplikasi ini.", id=backup_id))


def restore_target(app: App, into_app_id: int | None) -> App | None:
    """Return the app a backup of `app` may be restored into (None: itself), or raise OperationRefused.

    Only another app of the same agency on the same host: a backup never crosses to another tenant.
    """
    if into_app_id is None or into_app_id == app.id:
        return None
    target = db.session.get(App, into_app_id)
    if target is None or target.opd_id != app.opd_id:
        raise OperationRefused(_("Aplikasi tujuan tidak ditemukan."))
    if target.host_id != app.host_id or target.live_release is None:
        raise OperationRefused(_("Cadangan hanya dapat dipulihkan ke aplikasi lain milik OPD yang sama "
                                 "yang sudah dipasang di host yang sama."))
    return target


def restore_backup(app: App, backup_id: str, target: App | None, user: User | None,
                   gateway: AgentGateway) -> dict[str, Any]:
    """Restore a backup of `app` into it (its host takes a safety backup first) or into `target`."""
    check_backup_id(backup_id)
    expect_backup_possible(app)
    into = target.name if target is not None else None
    status: dict[str, Any] = _agent(app, gateway,
                                    lambda agent: agent.restore_backup(app.name, backup_id, into))
    audit.record("app.restore", app, actor=user, backup=backup_id, into=into or app.name)
    if target is not None:
        audit.record("app.restored_from", target, actor=user, backup=backup_id, source=app.name)
    return status


def check_backup_hours(hours: object) -> int:
    """Return `hours` if it is an allowed schedule (0 = on demand), else raise OperationRefused."""
    if not isinstance(hours, int) or isinstance(hours, bool) or not 0 <= hours <= BACKUP_HOURS_MAX:
        raise OperationRefused(_("Jadwal cadangan harus bilangan bulat 0–%(max)d jam "
                                 "(0: hanya bila diminta).", max=BACKUP_HOURS_MAX))
    return hours


def set_backup_schedule(app: App, hours: int, user: User | None, gateway: AgentGateway) -> None:
    """Back the app up every `hours` hours: on its host if it is deployed, and in the panel."""
    check_backup_hours(hours)
    before = app.backup_hours
    if app.live_release is not None and app.host is not None:
        _agent(app, gateway, lambda agent: agent.set_backup_schedule(app.name, hours))
    app.backup_hours = hours
    audit.record("app.backup_schedule", app, actor=user, before=before, hours=hours)


# --- findings ----------------------------------------------------------------------------------


def findings_of(app: App) -> list[AppFinding]:
    """Return what the panel knows the app's host found in its data, newest first."""
    return list(db.session.scalars(select(AppFinding).where(AppFinding.app_id == app.id)
                                   .order_by(AppFinding.detected_at.desc(), AppFinding.id.desc())))


def record_findings(app: App, items: list[dict[str, Any]]) -> list[AppFinding]:
    """Copy the agent's records of the app into the panel; return the ones it did not know yet."""
    known = {f.agent_id: f for f in findings_of(app)}
    fresh = []
    for item in items:
        agent_id = str(item.get("id") or "")
        if not agent_id.isalnum() or len(agent_id) > 64:
            continue
        action = _action(item.get("action"))
        finding = known.get(agent_id)
        if finding is not None:
            if finding.action != action and finding.action != FindingAction.DELETED:
                finding.action = action
            continue
        detections = item.get("findings") or [{}]
        first = detections[0] if isinstance(detections[0], dict) else {}
        finding = AppFinding(
            app_id=app.id, agent_id=agent_id, path=str(item.get("path") or "")[:4096],
            served_path=str(item.get("served_path") or item.get("path") or "")[:4096],
            sha256=str(item.get("sha256") or "")[:64], rule=str(first.get("rule") or "")[:255],
            engine=str(first.get("engine") or "")[:64], severity=str(first.get("severity") or "")[:16],
            message=str(first.get("message") or "")[:2000],
            detected_at=_moment(item.get("detected_at")), action=action)
        db.session.add(finding)
        fresh.append(finding)
        known[agent_id] = finding
    if fresh:
        db.session.flush()
        for finding in fresh:
            audit.record("app.finding", app, finding=finding.agent_id, path=finding.served_path,
                         rule=finding.rule, taken=str(finding.action))
    return fresh


def refresh_findings(app: App, gateway: AgentGateway) -> list[AppFinding]:
    """Ask the app's host what it found in the app's data now; return the new ones."""
    items = _agent(app, gateway, lambda agent: agent.findings(app.name))
    return record_findings(app, items)


def finding_of(app: App, finding_id: int) -> AppFinding:
    """Return the app's finding `finding_id` (never another app's), or raise OperationRefused."""
    finding = db.session.scalar(select(AppFinding).where(AppFinding.id == finding_id,
                                                         AppFinding.app_id == app.id))
    if finding is None:
        raise OperationRefused(_("Temuan tidak ditemukan."))
    return finding


def release_finding(app: App, finding: AppFinding, user: User, gateway: AgentGateway) -> None:
    """Put a quarantined file back where it was (a false positive): the agent allows it from now on."""
    if finding.action != FindingAction.QUARANTINED:
        raise OperationRefused(_("Hanya berkas yang dikarantina yang dapat dipulihkan."))
    _agent(app, gateway, lambda agent: agent.release_finding(app.name, finding.agent_id))
    _handled(app, finding, FindingAction.RELEASED, user)


def delete_finding(app: App, finding: AppFinding, user: User, gateway: AgentGateway) -> None:
    """Delete a finding's evidence on the app's host; the panel keeps the record of it."""
    if finding.action == FindingAction.DELETED:
        raise OperationRefused(_("Temuan ini sudah dihapus."))
    _agent(app, gateway, lambda agent: agent.delete_finding(app.name, finding.agent_id))
    _handled(app, finding, FindingAction.DELETED, user)


def _handled(app: App, finding: AppFinding, action: FindingAction, user: User) -> None:
    finding.action, finding.handled_by_id, finding.handled_at = action, user.id, utcnow()
    audit.record(f"app.finding_{action}", app, actor=user, finding=finding.agent_id,
                 path=finding.served_path)


def _action(value: object) -> FindingAction:
    try:
        return FindingAction(str(value))
    except ValueError:
        return FindingAction.REPORTED


def _moment(value: object) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return utcnow()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the periodic look at every host -----------------------------------------------------------


@dataclass
class Watched:
    """What one periodic look found: new findings per app, and apps whose crash loop began."""

    findings: dict[int, list[AppFinding]]
    crash_loops: list[App]


def watch(gateway: AgentGateway) -> Watched:
    """Ask each enrolled, online host for its running apps' findings and crash loops."""
    apps = db.session.scalars(
        select(App).join(Host, App.host_id == Host.id)
        .where(App.status.in_(WATCHED_STATUSES), Host.status == HostStatus.ONLINE,
               Host.cert_fingerprint.is_not(None))
        .order_by(App.host_id, App.id)).all()
    seen = Watched(findings={}, crash_loops=[])
    by_host: dict[int, list[App]] = {}
    for app in apps:
        by_host.setdefault(app.host_id or 0, []).append(app)
    for host_apps in by_host.values():
        host = host_apps[0].host
        assert host is not None
        try:
            with gateway.client(host) as agent:
                states = {str(s.get("name")): s for s in agent.apps() or [] if isinstance(s, dict)}
                for app in host_apps:
                    if note_crash_loop(app, states.get(app.name)):
                        seen.crash_loops.append(app)
                    try:
                        fresh = record_findings(app, agent.findings(app.name))
                    except AgentRefused as refused:  # e.g. removed from the host meanwhile
                        logger.info("Temuan %s tidak tersedia: %s", app.name, refused.code)
                        continue
                    if fresh:
                        seen.findings[app.id] = fresh
        except (AgentUnavailable, AgentRefused) as error:
            logger.warning("Temuan aplikasi di %s tidak terbaca: %s", host.name, error)
    return seen


def note_crash_loop(app: App, state: dict[str, Any] | None) -> bool:
    """Move the app into or out of its crash-loop status as its host reports; True when one begins."""
    if state is None:
        return False
    looping = bool(state.get("crash_loop"))
    if looping and app.status == AppStatus.RUNNING:
        app_lifecycle.crash_looping(app)
        return True
    if not looping and app.status == AppStatus.CRASH_LOOP:
        app_lifecycle.crash_loop_over(app)
    return False
