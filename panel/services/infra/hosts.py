"""Container hosts as the panel sees them: registration, enrolment of their agents, facts and health."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from agents.protocol import InvalidName, label
from agents.protocol.certificates import validate_addresses
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import App, AppStatus, Host, HostStatus, User
from panel.models.base import utcnow
from panel.services.infra import host_lifecycle
from panel.services.infra.allocation import HOST_MEMORY_RESERVE_MB
from panel.services.infra.enrolment import EnrolledAgent
from panel.services.infra.gateway import AgentGateway, AgentRefused, AgentUnavailable
from panel.services.refused import Refused

DEFAULT_AGENT_PORT = 17443  # where `wadah agent run` listens unless told otherwise
# The worker refreshes facts every minute; older facts than this mean the refresh keeps failing.
FACTS_STALE_AFTER = timedelta(minutes=5)
DISK_LOW_FRACTION = 0.1
EXPIRY_NOTICE_BEFORE = timedelta(days=30)  # technicians are mailed once this close to expiry


class HostRefused(Refused):
    pass


@dataclass(frozen=True)
class Health:
    """How a host looks to an operator: fine or not, and why, in a few words."""

    healthy: bool
    summary: str


def add_host(gateway: AgentGateway, name: str, address: str, port: int,
             user: User | None) -> tuple[Host, str]:
    """Register a host waiting for its agent to enrol; return it and the one-time token."""
    try:
        label(name)
    except InvalidName as invalid:
        raise HostRefused(_("Nama host tidak sah: %(error)s", error=invalid)) from invalid
    try:
        validate_addresses([address])
    except ValueError as invalid:
        raise HostRefused(_("Alamat agen tidak sah (nama DNS atau alamat IP): %(address)s",
                             address=repr(address))) from invalid
    if not 0 < port < 65536:
        raise HostRefused(_("Port agen tidak sah: %(port)s", port=port))
    if db.session.scalar(select(Host).where(Host.name == name)):
        raise HostRefused(_("Host %(host)s sudah terdaftar.", host=repr(name)))
    enrolments = gateway.enrolments  # a panel without its CA refuses here, before anything is written
    host = Host(name=name, agent_url=_agent_url(address, port), status=HostStatus.PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(host)
            db.session.flush()
    except IntegrityError as clash:  # the same form sent twice at once: the unique name decides
        raise HostRefused(_("Host %(host)s sudah terdaftar.", host=repr(name))) from clash
    # Issued only once the row exists, so a refused registration leaves no token behind.
    token = enrolments.issue_token(name, [address])
    audit.record("host.add", host, actor=user, address=address, port=port)
    return host, token


def reissue_token(gateway: AgentGateway, host: Host, user: User | None) -> str:
    """Issue a new one-time token for a host whose agent has not enrolled yet; return it."""
    if host.cert_fingerprint is not None:
        raise HostRefused(_("Agen %(host)s sudah terdaftar; token baru tidak diperlukan.", host=host.name))
    address = host.agent_address
    token = gateway.enrolments.issue_token(host.name, [address])
    audit.record("host.reissue_token", host, actor=user)
    return token


def enrolment_command(gateway: AgentGateway, token: str, panel_url: str) -> str:
    """Return the command run on the host to enrol its agent (the token travels in the environment)."""
    return (f"WADAH_AGENT_TOKEN={token} wadah agent enroll --panel {panel_url.rstrip('/')}"
            f" --ca-sha256 {gateway.ca.ca_sha256}")


def record_enrolment(enrolled: EnrolledAgent) -> Host:
    """Mark the host whose agent just enrolled as online, pinning its certificate's fingerprint."""
    host = db.session.scalar(select(Host).where(Host.name == enrolled.agent_name))
    if host is None:
        raise HostRefused(_("Host %(host)s tidak terdaftar.", host=repr(enrolled.agent_name)))
    if host.status != HostStatus.PENDING:
        raise HostRefused(_("Agen %(host)s sudah terdaftar.", host=host.name))
    host_lifecycle.enrolled(host, enrolled.fingerprint, enrolled.not_after)
    return host


def reenroll(gateway: AgentGateway, host: Host, user: User | None) -> str:
    """Give an enrolled host whose agent lost its key a new one-time token; return it.

    The host waits for its agent to enrol again: the panel stops calling it and refuses to renew the
    old certificate, and accepts only the new certificate once it is enrolled.
    """
    if host.status == HostStatus.RETIRED:
        raise HostRefused(_("Host %(host)s sudah dihapus.", host=host.name))
    if host.cert_fingerprint is None:
        raise HostRefused(_("Agen %(host)s belum pernah terdaftar; pakai token pendaftarannya.",
                             host=host.name))
    enrolments = gateway.enrolments
    if host.status != HostStatus.PENDING:
        host_lifecycle.reenrolling(host, user)
    token = enrolments.issue_token(host.name, [host.agent_address])
    audit.record("host.reissue_token", host, actor=user)
    return token


def remove_host(host: Host, user: User | None) -> None:
    """Remove a host that runs no app: the panel never calls it again nor renews its certificate."""
    if host.status == HostStatus.RETIRED:
        raise HostRefused(_("Host %(host)s sudah dihapus.", host=host.name))
    placed = db.session.scalar(select(func.count(App.id)).where(
        App.host_id == host.id, App.status != AppStatus.REMOVED))
    if placed:
        raise HostRefused(_("Host %(host)s masih menjalankan %(count)s aplikasi; pindahkan atau hapus "
                            "aplikasinya dulu.", host=host.name, count=placed))
    host_lifecycle.retired(host, user)


def set_front_address(host: Host, address: str, user: User | None) -> None:
    """Set the IP the host's nginx listens on for apps (empty: the agent's own address)."""
    address = address.strip()
    if address:
        try:
            ipaddress.ip_address(address)
        except ValueError as invalid:
            raise HostRefused(_("Alamat depan harus alamat IP: %(address)s",
                                 address=repr(address))) from invalid
    previous, host.front_address = host.front_address, address or None
    audit.record("host.front_address", host, actor=user, previous=previous, address=address or None)


def certificates_expiring(now: datetime, within: timedelta) -> list[Host]:
    """Return the hosts in use whose agent certificate expires within `within` of `now`."""
    return list(db.session.scalars(select(Host).where(
        Host.status.in_([HostStatus.ONLINE, HostStatus.UNREACHABLE]),
        Host.cert_not_after.is_not(None), Host.cert_not_after <= now + within).order_by(Host.name)))


def expect_enrolled(host: Host) -> Host:
    """Return `host` if its agent has enrolled, so the panel can talk to it; raise HostRefused if not."""
    if host.cert_fingerprint is None:
        raise HostRefused(_("Agen %(host)s belum mendaftar; jalankan perintah pendaftarannya di host.",
                             host=host.name))
    return host


def refresh_facts(gateway: AgentGateway, host: Host) -> dict[str, Any]:
    """Ask the host's agent for its facts (capacity, versions, apps) and record them.

    An agent that does not answer, or answers no, leaves the host marked unreachable and raises
    AgentUnavailable or AgentRefused.
    """
    try:
        with gateway.client(host) as agent:
            facts = agent.facts()
    except (AgentUnavailable, AgentRefused) as error:
        host_lifecycle.lost(host, error)
        raise
    host.facts, host.last_seen_at = facts, utcnow()
    host_lifecycle.reached(host)
    return facts


def _agent_url(address: str, port: int) -> str:
    try:
        bracketed = ipaddress.ip_address(address).version == 6
    except ValueError:
        bracketed = False
    return f"https://[{address}]:{port}" if bracketed else f"https://{address}:{port}"


def health(host: Host, now: datetime) -> Health:
    """Judge a host from its status and last facts: enrolled, reachable, fresh, with room left."""
    if host.status == HostStatus.PENDING:
        return Health(False, _("Menunggu pendaftaran agen"))
    if host.status == HostStatus.RETIRED:
        return Health(False, _("Tidak dipakai lagi"))
    if host.status == HostStatus.UNREACHABLE:
        return Health(False, _("Agen tidak dapat dihubungi"))
    seen = host.last_seen_at
    if seen is not None and seen.tzinfo is None:  # SQLite returns naive datetimes, stored in UTC
        seen = seen.replace(tzinfo=now.tzinfo)
    if seen is None or now - seen > FACTS_STALE_AFTER:
        return Health(False, _("Fakta usang: agen tidak melapor beberapa menit terakhir"))
    facts = host.facts or {}
    network = facts.get("app_network") or {}
    if network.get("managed") and network.get("error"):  # apps may reach the host or the DC's networks
        return Health(False, _("Isolasi jaringan aplikasi tidak terpasang: %(error)s",
                               error=network["error"]))
    if facts.get("memory_available_bytes", 0) < HOST_MEMORY_RESERVE_MB * 1024 * 1024:
        return Health(False, _("Memori bebas di bawah cadangan minimum"))
    for path, usage in (facts.get("disk") or {}).items():
        if usage.get("total_bytes") and usage.get("free_bytes", 0) < DISK_LOW_FRACTION * usage["total_bytes"]:
            return Health(False, _("Disk %(path)s hampir penuh", path=path))
    return Health(True, _("Sehat"))
