"""The panel's one door to its host agents: a client for a host, the CA, and the bundle store.

`create_app` makes one `AgentGateway` per app (`panel.gateway`); every page, job and command that
talks to an agent goes through it. An agent's failure reaches the panel as one of two errors, both
`Refused`: `AgentUnavailable` (no answer: connection, TLS, timeout) and `AgentRefused` (the agent
answered no, with its reason). The CA is made only by an init path (`create_ca`), never by a read.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from pathlib import Path

from agents.protocol.artifacts import ArtifactStore
from panel.i18n import gettext as _
from panel.models import Host, HostStatus
from panel.services.infra.agent_client import AgentClient, AgentRefused, AgentUnavailable
from panel.services.infra.ca import AGENT_CERT_VALIDITY, PanelCA
from panel.services.infra.enrolment import EnrolledAgent, Enrolments, SqliteEnrolmentTokens

__all__ = ["AgentClient", "AgentGateway", "AgentRefused", "AgentUnavailable", "HostNotCallable",
           "NoCertificateAuthority"]

TOKENS_FILE = "enrolment-tokens.sqlite3"


class NoCertificateAuthority(AgentUnavailable):
    """The panel has no CA yet, so no agent can be enrolled or called."""

    def __init__(self) -> None:
        # No path in the message: the enrol route answers it to anyone.
        Exception.__init__(self, _("Panel belum memiliki CA: jalankan `wadah up` atau `wadah init-config` "
                                   "lebih dulu."))
        self.agent = ""


class HostNotCallable(AgentUnavailable):
    """The panel does not call this host: removed, or waiting for its agent to enrol (again)."""

    def __init__(self, host: Host) -> None:
        Exception.__init__(self, _("Host %(host)s tidak dihubungi panel: %(reason)s", host=host.name,
                                   reason=_("sudah dihapus") if host.status == HostStatus.RETIRED
                                   else _("agennya belum terdaftar")))
        self.agent = host.name


class AgentGateway:
    """What the panel needs to reach its agents, made once per app."""

    def __init__(self, ca_dir: Path | str, artifact_dir: Path | str) -> None:
        self.ca_dir = Path(ca_dir)
        self.artifacts = ArtifactStore(artifact_dir)  # the bundles the agents are sent
        self._ca: PanelCA | None = None
        self._lock = threading.Lock()
        self.agent_cert_validity = AGENT_CERT_VALIDITY  # of what enrolment and renewal issue

    @classmethod
    def for_instance(cls, instance_path: Path | str, artifact_dir: Path | str) -> AgentGateway:
        """Return the gateway of a panel whose CA lives in its instance folder's `ca/`."""
        return cls(Path(instance_path) / "ca", artifact_dir)

    def has_ca(self) -> bool:
        """Return whether the panel's CA was made."""
        return PanelCA.exists(self.ca_dir)

    def create_ca(self) -> PanelCA:
        """Make the panel's CA unless it exists, and return it: for the init paths only."""
        with self._lock:
            if not PanelCA.exists(self.ca_dir):
                self._ca = PanelCA.create(self.ca_dir)
        return self.ca

    @property
    def ca(self) -> PanelCA:
        """The panel's CA, loaded once; NoCertificateAuthority if it was never made."""
        with self._lock:
            if self._ca is None:
                if not PanelCA.exists(self.ca_dir):
                    raise NoCertificateAuthority()
                self._ca = PanelCA.load(self.ca_dir)
            return self._ca

    @property
    def enrolments(self) -> Enrolments:
        """The one-time enrolment tokens, kept beside the CA."""
        return Enrolments(self.ca, SqliteEnrolmentTokens(self.ca_dir / TOKENS_FILE),
                          validity=self.agent_cert_validity)

    def renew(self, headers: Mapping[str, str], body: bytes) -> EnrolledAgent:
        """Sign an enrolled agent's signed renewal request (see `renewal`); the caller commits."""
        from panel.services.infra import renewal

        return renewal.renew(self.ca, headers, body, dt.datetime.now(dt.UTC),
                             self.agent_cert_validity)

    def client(self, host: Host) -> AgentClient:
        """Return a client for the host's agent, authenticated with the panel's certificate.

        Only an enrolled host that is not removed is called, and only if it presents the very
        certificate the panel pinned at enrolment or renewal: a replaced one is refused.
        """
        if host.status in (HostStatus.RETIRED, HostStatus.PENDING) or host.cert_fingerprint is None:
            raise HostNotCallable(host)
        ca = self.ca
        client = AgentClient(host.agent_url, host.name, ca.client_cert_path, ca.client_key_path,
                             ca.ca_cert_path)
        client.pin_certificate(host.cert_fingerprint)
        return client
