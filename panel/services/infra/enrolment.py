"""How a host's agent enrols with the panel: one-time tokens, redeemed for a certificate.

1. The panel calls `Enrolments.issue_token(name, addresses)`; the token is shown once, with the
   command to run on the host, which also carries the CA's sha256 fingerprint.
2. On the host, `wadah agent enroll` sends a CSR for a key that never leaves the host, with the token
   (the agent's side is `agents.credentials`).
3. The panel's route calls `Enrolments.redeem_request(body)`: the token is checked against its hash,
   its expiry and whether it was used, then spent; the certificate names only what the token was
   issued for, whatever the CSR asks.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agents import private_files, protocol
from agents.protocol.certificates import fingerprint, host_name, validate_addresses
from agents.protocol.messages import EnrolmentBundle
from panel.i18n import gettext as _
from panel.services.infra.ca import AGENT_CERT_VALIDITY, BadCSR, PanelCA
from panel.services.refused import Refused

ENROLMENT_TOKEN_TTL_S = 24 * 3600
TOKEN_PREFIX = "wdh1"  # noqa: S105 - a format marker, not a secret
_TOKEN = re.compile(r"^wdh1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")


class EnrolmentRefused(protocol.EnrolmentRefused, Refused):
    """An enrolment the panel will not go through with; `code` says why, as the route answers it."""


@dataclass(frozen=True)
class EnrolmentToken:
    """A token as the panel keeps it: only the sha256 of its secret, never the secret itself."""

    token_id: str
    secret_sha256: str
    agent_name: str
    addresses: tuple[str, ...]
    expires_at: float
    used_at: float | None = None


class EnrolmentTokenStore(Protocol):
    def add(self, token: EnrolmentToken) -> None: ...

    def get(self, token_id: str) -> EnrolmentToken | None: ...

    def spend(self, token_id: str, when: float) -> bool:
        """Mark the token used, atomically; return False if it already was."""
        ...


class SqliteEnrolmentTokens:
    """Enrolment tokens in a small SQLite file (the panel may keep them in its own database)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        private_files.tighten_sqlite(self.path)  # as an older version may have left it

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        private_files.private_sqlite(self.path)
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS enrolment_tokens (token_id TEXT PRIMARY KEY,"
                       " secret_sha256 TEXT NOT NULL, agent_name TEXT NOT NULL,"
                       " addresses TEXT NOT NULL, expires_at REAL NOT NULL, used_at REAL)")
            yield db
        finally:
            db.close()

    def add(self, token: EnrolmentToken) -> None:
        with self._lock, self._connect() as db:
            db.execute("INSERT INTO enrolment_tokens VALUES (?, ?, ?, ?, ?, ?)",
                       (token.token_id, token.secret_sha256, token.agent_name,
                        json.dumps(list(token.addresses)), token.expires_at, token.used_at))

    def get(self, token_id: str) -> EnrolmentToken | None:
        with self._lock, self._connect() as db:
            row = db.execute("SELECT token_id, secret_sha256, agent_name, addresses, expires_at,"
                             " used_at FROM enrolment_tokens WHERE token_id = ?",
                             (token_id,)).fetchone()
        if row is None:
            return None
        return EnrolmentToken(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5])

    def spend(self, token_id: str, when: float) -> bool:
        with self._lock, self._connect() as db:
            cursor = db.execute("UPDATE enrolment_tokens SET used_at = ?"
                                " WHERE token_id = ? AND used_at IS NULL", (when, token_id))
            return cursor.rowcount == 1


@dataclass(frozen=True)
class EnrolledAgent:
    """The outcome of a redeemed token: what the panel records about the host, and the answer."""

    agent_name: str
    fingerprint: str
    not_after: dt.datetime
    bundle: EnrolmentBundle


def enrolled_agent(ca: PanelCA, agent_name: str, certificate: x509.Certificate) -> EnrolledAgent:
    """Return what the panel records and answers for a certificate it just issued an agent."""
    bundle = EnrolmentBundle(
        agent_name=agent_name,
        certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        ca_certificate=ca.ca_certificate_pem,
        release_signing_key=ca.release_signing_public_pem,
        release_signing_key_endorsement=ca.endorse_release_key(),
    )
    return EnrolledAgent(agent_name, fingerprint(certificate), certificate.not_valid_after_utc,
                         bundle)


def _secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Enrolments:
    """Issues one-time enrolment tokens and redeems them for agent certificates."""

    def __init__(self, ca: PanelCA, tokens: EnrolmentTokenStore,
                 clock: Callable[[], float] = time.time,
                 validity: dt.timedelta = AGENT_CERT_VALIDITY) -> None:
        self.ca = ca
        self.tokens = tokens
        self.clock = clock
        self.validity = validity  # of the certificates it issues

    def issue_token(self, agent_name: str, addresses: Sequence[str],
                    ttl_s: float = ENROLMENT_TOKEN_TTL_S) -> str:
        """Create a one-time token for the agent `agent_name` reached at `addresses`; return it."""
        host_name(agent_name)
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        self.tokens.add(EnrolmentToken(token_id, _secret_sha256(secret), agent_name,
                                       validate_addresses(addresses), self.clock() + ttl_s))
        return f"{TOKEN_PREFIX}.{token_id}.{secret}"

    def enroll_command(self, panel_url: str, token: str) -> str:
        """Return the command a technician runs on the host to enrol its agent."""
        return (f"wadah agent enroll --panel {panel_url} --token {token}"
                f" --ca-sha256 {self.ca.ca_sha256}")

    def redeem(self, token: str, csr_pem: str) -> EnrolledAgent:
        """Spend `token` and sign the agent's CSR; raise EnrolmentRefused if either is not good."""
        match = _TOKEN.match(token) if isinstance(token, str) else None
        if match is None:
            raise EnrolmentRefused(code="token_invalid", message=_("token pendaftaran tidak sah"))
        token_id, secret = match.groups()
        record = self.tokens.get(token_id)
        if record is None or not hmac.compare_digest(record.secret_sha256, _secret_sha256(secret)):
            raise EnrolmentRefused(code="token_invalid", message=_("token pendaftaran tidak sah"))
        if record.used_at is not None:
            raise EnrolmentRefused(code="token_used", message=_("token pendaftaran sudah pernah dipakai"))
        now = self.clock()
        if now >= record.expires_at:
            raise EnrolmentRefused(code="token_expired", message=_("token pendaftaran sudah kedaluwarsa"))
        # The CSR is checked before the token is spent, so a bad CSR does not burn the token.
        try:
            certificate = self.ca.issue_agent_certificate(csr_pem, record.agent_name, record.addresses,
                                                          self.validity)
        except BadCSR as bad:
            raise EnrolmentRefused(code="bad_csr", message=str(bad)) from bad
        if not self.tokens.spend(token_id, now):
            raise EnrolmentRefused(code="token_used", message=_("token pendaftaran sudah pernah dipakai"))
        return enrolled_agent(self.ca, record.agent_name, certificate)

    def redeem_request(self, body: Any) -> EnrolledAgent:
        """Redeem a parsed JSON `EnrolmentRequest` body, as the panel's enrol route receives it."""
        try:
            request = protocol.decode(protocol.EnrolmentRequest, body)
        except protocol.MalformedRequest as exc:
            raise EnrolmentRefused(code="malformed_request", message=str(exc)) from exc
        return self.redeem(request.token, request.csr)
