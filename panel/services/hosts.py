"""Container hosts as the panel sees them: the internal CA, agent enrolment, and agent clients."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from agents.client import AgentClient, AgentError
from agents.pki import EnrolledAgent, Enrolments, PanelCA, SqliteEnrolmentTokens
from agents.protocol import InvalidName, label
from panel import audit
from panel.extensions import db
from panel.models import Host, HostStatus, User
from panel.models.base import utcnow


class HostRefused(ValueError):
    pass


class PanelPKI:
    """The CA files and enrolment tokens kept in the panel's instance folder."""

    def __init__(self, instance_path: Path | str) -> None:
        self.directory = Path(instance_path) / "ca"
        self.ca = PanelCA.load_or_create(self.directory)
        tokens = SqliteEnrolmentTokens(self.directory / "enrolment-tokens.sqlite3")
        self.enrolments = Enrolments(self.ca, tokens)

    def client(self, host: Host) -> AgentClient:
        """Return a client for the host's agent, authenticated with the panel's certificate."""
        return AgentClient(host.agent_url, host.name, self.ca.client_cert_path, self.ca.client_key_path,
                           self.ca.ca_cert_path)


def add_host(pki: PanelPKI, name: str, address: str, port: int, user: User | None) -> tuple[Host, str]:
    """Register a host waiting for its agent to enrol; return it and the one-time token."""
    try:
        label(name)
    except InvalidName as invalid:
        raise HostRefused(f"Nama host tidak sah: {invalid}") from invalid
    if db.session.scalar(select(Host).where(Host.name == name)):
        raise HostRefused(f"Host {name!r} sudah terdaftar.")
    token = pki.enrolments.issue_token(name, [address])
    host = Host(name=name, agent_url=f"https://{address}:{port}", status=HostStatus.PENDING)
    db.session.add(host)
    db.session.flush()
    audit.record("host.add", host, actor=user, address=address, port=port)
    return host, token


def record_enrolment(enrolled: EnrolledAgent) -> Host:
    """Mark the host whose agent just enrolled as online, pinning its certificate's fingerprint."""
    host = db.session.scalar(select(Host).where(Host.name == enrolled.agent_name))
    if host is None:
        raise HostRefused(f"Host {enrolled.agent_name!r} tidak terdaftar.")
    host.cert_fingerprint, host.enrolled_at, host.status = enrolled.fingerprint, utcnow(), HostStatus.ONLINE
    audit.record("host.enrol", host, actor=None, fingerprint=enrolled.fingerprint)
    return host


def refresh_facts(pki: PanelPKI, host: Host) -> dict[str, Any]:
    """Ask the host's agent for its facts (capacity, versions, apps) and record them."""
    try:
        with pki.client(host) as agent:
            facts = agent.facts()
    except AgentError as error:
        host.status = HostStatus.UNREACHABLE
        raise HostRefused(f"Agen {host.name} tidak dapat dihubungi: {error}") from error
    host.facts, host.last_seen_at, host.status = facts, utcnow(), HostStatus.ONLINE
    return facts
