"""An app's day-to-day operation through its Web Panel: power, logs, rollback, environment variables,
its database, its name and TLS, its storage limit, and resource samples.

Flask-free. The functions that talk to the app's host agent are run by jobs, never inside a request;
they raise `OperationRefused` with a message for the app's owner and leave committing to the caller.
Secrets (environment values, database passwords) never reach an audit event or a log line.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any, TypeVar

from sqlalchemy import delete, select

from agents import protocol
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import (
    App,
    AppEnvVar,
    AppMetric,
    AppStatus,
    Attachment,
    AttachmentKind,
    Host,
    HostStatus,
    Release,
    ReleaseStatus,
    User,
    Zone,
)
from panel.models.base import utcnow
from panel.services.apps import app_lifecycle, tls
from panel.services.infra import allocation, dns
from panel.services.infra.gateway import AgentClient, AgentGateway, AgentRefused, AgentUnavailable
from panel.services.refused import Refused
from panel.services.releases import release_lifecycle

logger = logging.getLogger(__name__)
T = TypeVar("T")

CONTROL_ACTIONS = ("start", "stop", "restart", "status")
LOG_SOURCES = ("app", "access", "error")  # the app's output, and its vhost's nginx access and error logs
LOG_LINES_DEFAULT, LOG_LINES_MAX = 200, 1000
LOG_TEXT_MAX_CHARS = 200_000  # per source, kept in the job's result
# Set by the agent for every app (WADAH_*, PATH) or for its database (DB_*): an app may not name them.
RESERVED_ENV_NAMES = frozenset({"PATH"})
RESERVED_ENV_PREFIXES = ("WADAH_", "DB_")
ENV_VALUE_MAX_CHARS = 4096
ENV_MAX_VARIABLES = 100
METRICS_RETENTION = timedelta(days=7)
CHART_POINTS = 240  # at most this many points per line: older samples are averaged together
# How the agent connects an app to its database (DB_HOST, DB_PORT): MariaDB's socket, mounted in.
DATABASE_HOST, DATABASE_PORT = "localhost", 3306
# The limit on an app's writable data (MiB): its data volume on the host is that large.
STORAGE_MIN_MB, STORAGE_MAX_MB = protocol.STORAGE_MIN_MB, protocol.STORAGE_MAX_MB


class OperationRefused(Refused):
    """The operation cannot be done as things stand; the message says why, for the app's owner."""


# --- talking to the agent ----------------------------------------------------------------------


def _with_agent(app: App, gateway: AgentGateway, call: Callable[[AgentClient], T]) -> T:
    """Run `call` against the app's host agent; its errors, worded by the gateway, refuse the operation."""
    expect_managed(app)
    host = app.host
    if host is None:
        raise OperationRefused(_("Aplikasi belum dialokasikan ke host."))
    if host.cert_fingerprint is None:
        raise OperationRefused(_("Agen host %(host)s belum terdaftar.", host=host.name))
    try:
        with gateway.client(host) as agent:
            return call(agent)
    except (AgentUnavailable, AgentRefused) as failed:
        raise OperationRefused(str(failed)) from failed


def expect_managed(app: App) -> None:
    """Raise OperationRefused if Wadah does not run the app on a host: external, or removed."""
    if app.is_external:
        raise OperationRefused(_(
            "Aplikasi %(name)s dihosting di luar Wadah (aplikasi eksternal): Wadah hanya mencatatnya dan "
            "tidak dapat menjalankan tindakan apa pun di servernya.", name=app.name))
    if app.status == AppStatus.REMOVED:
        raise OperationRefused(_("Aplikasi %(name)s sudah dihapus.", name=app.name))


def control(app: App, action: str, user: User | None, gateway: AgentGateway) -> dict[str, Any]:
    """Start, stop or restart the app's container, or just read its state; return the agent's status."""
    if action not in CONTROL_ACTIONS:
        raise OperationRefused(_("Tindakan tidak dikenal: %(action)s", action=action))
    moves = action in app_lifecycle.CONTROLLED
    if moves and not app_lifecycle.may_move(app, app_lifecycle.CONTROLLED[action]):
        raise OperationRefused(_("Aplikasi berstatus %(status)s tidak dapat menerima tindakan %(action)s.",
                                 status=app.status, action=action))
    status: dict[str, Any] = _with_agent(app, gateway, lambda agent: getattr(agent, action)(app.name))
    if moves:
        app_lifecycle.controlled(app, action, user, status.get("state"))
    return status


def fetch_logs(app: App, gateway: AgentGateway, lines: int) -> dict[str, str]:
    """Return the last `lines` lines of the app's output and of its nginx access and error logs."""
    lines = max(1, min(LOG_LINES_MAX, lines))

    def read(agent: AgentClient) -> dict[str, str]:
        return {source: agent.logs(app.name, tail=lines, source=source)[-LOG_TEXT_MAX_CHARS:]
                for source in LOG_SOURCES}

    return _with_agent(app, gateway, read)


# --- decommissioning ---------------------------------------------------------------------------

REMOVAL_REASON_MAX_CHARS = 2000


def check_removal(app: App, reason: str) -> str:
    """Return the stripped reason if the app may be decommissioned now, else raise OperationRefused."""
    reason = reason.strip()
    if not reason:
        raise OperationRefused(_("Alasan penghapusan wajib diisi."))
    if len(reason) > REMOVAL_REASON_MAX_CHARS:
        raise OperationRefused(_("Alasan penghapusan paling panjang %(count)d karakter.",
                                 count=REMOVAL_REASON_MAX_CHARS))
    if not app_lifecycle.may_move(app, AppStatus.REMOVED):
        raise OperationRefused(_("Aplikasi berstatus %(status)s tidak dapat dihapus.", status=app.status))
    return reason


def decommission(app: App, user: User | None, reason: str, gateway: AgentGateway, zone: Zone | None,
                 now: datetime) -> dict[str, Any]:
    """Take the app's name out of its zone, then the app off its host (its database dumped first), and
    record it removed; return what was done.

    The name goes first: both steps may be run again, so a removal cut short is finished by a retry.
    """
    reason = check_removal(app, reason)
    done: dict[str, Any] = {"dns": None, "dump": None}
    if app.is_external:  # never on a host of ours, never in a zone we update
        app_lifecycle.removed(app, user, reason, None, now)
        return done
    if zone is not None:
        try:
            dns.remove_address(dns.ZoneAccess.from_zone(zone), app.subdomain)
        except dns.DnsError as error:  # the message names the server, never the key's secret
            raise OperationRefused(_("Nama %(fqdn)s tidak dapat dihapus dari DNS: %(error)s",
                                     fqdn=app.fqdn, error=error)) from error
        done["dns"] = zone.primary_server
    if app.host is not None:
        try:
            report = _with_agent(app, gateway, lambda agent: agent.remove(app.name))
        except OperationRefused as refused:
            cause = refused.__cause__
            if not (isinstance(cause, AgentRefused) and cause.code == "unknown_app"):
                raise
            report = {}  # already gone from the host (a removal cut short, or never deployed)
        dump = (report or {}).get("dump")
        done["dump"] = PurePosixPath(dump).name if dump else None
    if app.ip is not None:  # off its host and out of DNS: the address may go to another app
        audit.record("app.release_ip", app, actor=user, ip=app.ip)
        allocation.release_address(app)
    app_lifecycle.removed(app, user, reason, done["dump"], now)
    return done


# --- releases ----------------------------------------------------------------------------------


def expect_rollback_possible(app: App) -> None:
    """Raise OperationRefused unless an earlier release that ran may be returned to."""
    if app.live_release is None or not any(r.status == ReleaseStatus.RETIRED for r in app.releases):
        raise OperationRefused(_("Belum ada rilis sebelumnya untuk dikembalikan."))


def rollback(app: App, user: User | None, gateway: AgentGateway) -> Release:
    """Return the app to its previous release on the host, and mark the releases to match."""
    expect_rollback_possible(app)
    result: dict[str, Any] = _with_agent(app, gateway, lambda agent: agent.rollback(app.name))
    target = db.session.get(Release, result.get("release_id"))
    if target is None or target.app_id != app.id:
        raise OperationRefused(_("Agen kembali ke rilis yang tidak dikenal panel."))
    left = app.live_release
    release_lifecycle.rolled_back_to(target, user, app=app.name, number=target.number,
                                     left=left.number if left else None)
    app_lifecycle.rolled_back(app, user, target.number)
    return target


# --- environment variables ---------------------------------------------------------------------


def check_env_name(name: str) -> str:
    """Return `name` if an app may set it, else raise OperationRefused saying why."""
    try:
        protocol.env_key(name)
    except protocol.InvalidName:
        raise OperationRefused(_(
            "Nama variabel harus huruf besar, angka dan garis bawah, diawali huruf atau garis bawah, "
            "paling banyak 64 karakter (misalnya APP_ENV).")) from None
    if name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES):
        raise OperationRefused(_("Variabel %(name)s diatur oleh Wadah dan tidak boleh diubah "
                                 "(nama WADAH_*, DB_* dan PATH dicadangkan).", name=name))
    if protocol.loads_code(name):
        raise OperationRefused(_(
            "Variabel %(name)s ditolak: variabel yang membuat runtime memuat kode (misalnya LD_*, "
            "PHP_INI_SCAN_DIR, PYTHONPATH, NODE_OPTIONS) akan menjalankan kode yang tidak pernah "
            "dipindai.", name=name))
    return name


def env_vars(app: App) -> list[AppEnvVar]:
    """Return the app's variables by name, those waiting to be removed included."""
    return list(db.session.scalars(select(AppEnvVar).where(AppEnvVar.app_id == app.id)
                                   .order_by(AppEnvVar.name)))


def env_var(app: App, name: str) -> AppEnvVar | None:
    return db.session.scalar(select(AppEnvVar).where(AppEnvVar.app_id == app.id, AppEnvVar.name == name))


def env_pending(var: AppEnvVar) -> bool:
    """Return whether the app does not run with this variable as the panel holds it yet."""
    return var.applied_at is None or var.removed or as_utc(var.updated_at) > as_utc(var.applied_at)


def set_env_var(app: App, name: str, value: str, user: User) -> AppEnvVar:
    """Add or change a variable; it takes effect when the environment is applied."""
    name = check_env_name(name.strip())
    if "\0" in value:
        raise OperationRefused(_("Nilai variabel tidak boleh memuat karakter NUL."))
    if len(value) > ENV_VALUE_MAX_CHARS:
        raise OperationRefused(_("Nilai variabel paling panjang %(count)d karakter.",
                                 count=ENV_VALUE_MAX_CHARS))
    var = env_var(app, name)
    if var is None:
        if sum(1 for v in env_vars(app) if not v.removed) >= ENV_MAX_VARIABLES:
            raise OperationRefused(_("Aplikasi paling banyak memiliki %(count)d variabel.",
                                     count=ENV_MAX_VARIABLES))
        var = AppEnvVar(app_id=app.id, name=name)
        db.session.add(var)
    var.value, var.removed, var.updated_by_id, var.updated_at = value, False, user.id, utcnow()
    audit.record("env.set", app, actor=user, name=name)  # never the value
    return var


def remove_env_var(app: App, name: str, user: User) -> None:
    """Remove a variable; one the app already runs with is kept, marked, until the next apply."""
    var = env_var(app, name)
    if var is None or var.removed:
        raise OperationRefused(_("Variabel %(name)s tidak ada.", name=name))
    if var.applied_at is None:
        db.session.delete(var)
    else:
        var.removed, var.updated_by_id, var.updated_at = True, user.id, utcnow()
    audit.record("env.remove", app, actor=user, name=name)


def record_reveal(app: App, var: AppEnvVar, user: User) -> None:
    """Audit that `user` was shown a variable's value (the value itself is never recorded)."""
    audit.record("env.reveal", app, actor=user, name=var.name)


def environment(app: App) -> dict[str, str]:
    """Return the environment the app should run with: every variable not marked for removal."""
    return {var.name: var.value for var in env_vars(app) if not var.removed}


def mark_env_applied(app: App, as_of: datetime) -> None:
    """Record that the app runs with its variables as they stood at `as_of`."""
    for var in env_vars(app):
        if as_utc(var.updated_at) > as_of:
            continue  # changed while the environment was being applied: still waiting
        if var.removed:
            db.session.delete(var)
        else:
            var.applied_at = as_of


def check_environment(app: App) -> None:
    """Raise OperationRefused if a stored variable may no longer be set (the rules grew since)."""
    for name in environment(app):
        check_env_name(name)


def apply_env(app: App, user: User | None, gateway: AgentGateway) -> list[str]:
    """Push the app's environment to its host, which restarts it onto it; return the names applied."""
    as_of, env = utcnow(), environment(app)
    _with_agent(app, gateway, lambda agent: agent.set_env(app.name, env))
    mark_env_applied(app, as_of)
    audit.record("env.apply", app, actor=user, names=sorted(env))
    return sorted(env)


# --- database ----------------------------------------------------------------------------------


def database_details(app: App, gateway: AgentGateway) -> dict[str, Any] | None:
    """Return how the app reaches its database (never the password), or None if it has none."""
    account = _with_agent(app, gateway, lambda agent: agent.database(app.name))
    if not account:
        return None
    return {"host": DATABASE_HOST, "port": DATABASE_PORT, "database": account.get("database"),
            "user": account.get("user")}


def reset_database_password(app: App, user: User | None, gateway: AgentGateway) -> str:
    """Give the app's database account a new password (the app restarts onto it); return it once."""
    result: dict[str, Any] = _with_agent(app, gateway, lambda agent: agent.reset_database_password(app.name))
    fresh = (result.get("database") or {}).get("password")
    if not fresh:
        raise OperationRefused(_("Agen tidak mengembalikan kata sandi baru."))
    audit.record("app.database_reset", app, actor=user)
    return str(fresh)


# --- storage -----------------------------------------------------------------------------------


def check_storage_mb(storage_mb: int) -> int:
    """Return `storage_mb` if it is an allowed limit on writable data (MiB), else raise OperationRefused."""
    if isinstance(storage_mb, bool) or not STORAGE_MIN_MB <= storage_mb <= STORAGE_MAX_MB:
        raise OperationRefused(_("Batas penyimpanan harus antara %(low)d dan %(high)d MiB.",
                                 low=STORAGE_MIN_MB, high=STORAGE_MAX_MB))
    return storage_mb


def set_storage_limit(app: App, storage_mb: int, user: User | None,
                      gateway: AgentGateway) -> dict[str, Any] | None:
    """Give the app's writable data a new limit: on its host first (which keeps the data), then here.

    An app not deployed yet only keeps the limit here: its host makes its data volume that large.
    Return the agent's status of the app, its storage use included (None when it was not asked).
    """
    check_storage_mb(storage_mb)
    before = app.storage_mb
    status: dict[str, Any] | None = None
    if app.live_release is not None:
        status = _with_agent(app, gateway, lambda agent: agent.set_storage(app.name, storage_mb))
    app.storage_mb = storage_mb
    audit.record("app.storage", app, actor=user, before_mb=before, after_mb=storage_mb)
    return status


# --- domain and TLS ----------------------------------------------------------------------------


def domain_status(app: App, zone: Zone | None, gateway: AgentGateway, tls_port: int) -> dict[str, Any]:
    """Ask the zone's primary whether the app's name exists, the agent how the app is served, and the
    app's address which certificate it presents for the name."""
    found: dict[str, Any] = {"fqdn": app.fqdn}
    address = app.front_ip(zone.record_ip if zone else None)
    if address:
        try:
            found["tls"] = tls.probe(address, tls_port, app.fqdn).to_dict()
        except tls.TlsUnavailable as unavailable:
            found["tls_error"] = str(unavailable)
    if zone is None:
        found["dns_error"] = _("Zona DNS %(zone)s belum didaftarkan di Wadah.", zone=app.zone)
    else:
        try:
            found["resolves"] = dns.name_exists(dns.ZoneAccess.from_zone(zone), app.subdomain)
            found["dns_server"] = zone.primary_server
        except dns.DnsError as error:  # the message names the server, never the key's secret
            found["dns_error"] = str(error)
    try:
        status = _with_agent(app, gateway, lambda agent: agent.status(app.name))
    except OperationRefused as refused:
        found["agent_error"] = str(refused)
    else:
        found["agent"] = {key: status.get(key) for key in ("desired", "state", "release_id", "port",
                                                           "tls", "https", "certificate")
                          if key in status}
    return found


def zone_of(app: App) -> Zone | None:
    return db.session.scalar(select(Zone).where(Zone.name == app.zone))


# --- the hosting report letter -----------------------------------------------------------------


def hosting_report_letter(app: App) -> Attachment | None:
    """Return the newest hosting report letter of the request the app came from, or None."""
    if app.request_id is None:
        return None
    return db.session.scalar(select(Attachment).where(
        Attachment.request_id == app.request_id, Attachment.kind == AttachmentKind.HOSTING_REPORT)
        .order_by(Attachment.id.desc()).limit(1))


# --- resource use ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPoint:
    at: datetime
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int


def collect_metrics(gateway: AgentGateway, now: datetime) -> int:
    """Sample the resource use of every running app on a reachable host; return how many were taken."""
    running = db.session.scalars(
        select(App).join(Host, App.host_id == Host.id)
        .where(App.status == AppStatus.RUNNING, Host.status == HostStatus.ONLINE,
               Host.cert_fingerprint.is_not(None))
        .order_by(App.host_id, App.id)).all()
    taken = 0
    for host_apps in _by_host(running):
        host = host_apps[0].host
        assert host is not None
        try:
            with gateway.client(host) as agent:
                for app in host_apps:
                    try:
                        stats = agent.stats(app.name)
                    except AgentRefused as refused:  # e.g. removed from the host meanwhile
                        logger.info("stats of %s not available: %s", app.name, refused.code)
                        continue
                    if stats:
                        db.session.add(AppMetric(
                            app_id=app.id, at=now, cpu_percent=float(stats.get("cpu_percent") or 0),
                            memory_bytes=int(stats.get("memory_bytes") or 0),
                            memory_limit_bytes=int(stats.get("memory_limit_bytes") or 0),
                            pids=int(stats.get("pids") or 0)))
                        taken += 1
        except (AgentUnavailable, AgentRefused) as error:
            logger.warning("app stats on %s could not be read: %s", host.name, error)
    prune_metrics(now - METRICS_RETENTION)
    return taken


def prune_metrics(before: datetime) -> int:
    """Forget resource samples older than `before`; return how many."""
    result = db.session.execute(delete(AppMetric).where(AppMetric.at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def metric_series(app: App, since: datetime, points: int = CHART_POINTS) -> list[MetricPoint]:
    """Return the app's samples since `since`, averaged into at most `points` points, oldest first."""
    rows = db.session.scalars(select(AppMetric).where(AppMetric.app_id == app.id, AppMetric.at >= since)
                              .order_by(AppMetric.at)).all()
    size = max(1, -(-len(rows) // max(1, points)))  # ceiling division
    series = []
    for start in range(0, len(rows), size):
        bucket = rows[start:start + size]
        series.append(MetricPoint(
            at=as_utc(bucket[-1].at), cpu_percent=sum(r.cpu_percent for r in bucket) / len(bucket),
            memory_bytes=sum(r.memory_bytes for r in bucket) // len(bucket),
            memory_limit_bytes=max(r.memory_limit_bytes for r in bucket)))
    return series


def _by_host(apps: Iterable[App]) -> list[list[App]]:
    groups: dict[int, list[App]] = {}
    for app in apps:
        groups.setdefault(app.host_id or 0, []).append(app)
    return list(groups.values())


def as_utc(moment: datetime) -> datetime:
    """Return `moment` timezone-aware: SQLite gives naive datetimes back, stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
