"""How an enrolled agent renews its certificate before it expires, without a person or a token.

The agent sends `protocol.RenewalRequest` (its current certificate and a CSR for a new key) to the
panel's `protocol.RENEW_PATH`, signed with its current certificate's key over the same canonical
request the panel signs its own calls with. The panel signs the CSR only if:
- the certificate is one the panel's CA issued to an agent, and is still valid;
- the request is signed by that certificate's key and is fresh;
- the certificate is the one the panel pinned for that registered host (a replaced one is refused),
  and the host is neither removed nor waiting to enrol again;
- the host did not renew within `RENEWAL_MIN_INTERVAL` (a stolen key cannot churn certificates);
- the CSR names the same agent, for a new key.
A captured request cannot be replayed to any effect: once it is honoured, the certificate it carries
is no longer the pinned one. Every renewal, and every refusal that names a registered host, is audited.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from agents import protocol
from agents.protocol.certificates import ROLE_AGENT, certificate_role, common_name, fingerprint, usages
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Host, HostStatus
from panel.services.infra import host_lifecycle
from panel.services.infra.ca import BadCSR, PanelCA, load_csr
from panel.services.infra.enrolment import EnrolledAgent, EnrolmentRefused, enrolled_agent

logger = logging.getLogger(__name__)

RENEWAL_MIN_INTERVAL = dt.timedelta(hours=1)


class RenewalRefused(EnrolmentRefused):
    """A renewal the panel will not sign; `code` says why."""


def _refuse(message: str, *, code: str, host: Host | None = None) -> RenewalRefused:
    if host is not None:  # the caller rolls back; the refusal is audited on its own
        logger.warning("refused to renew the certificate of %s: %s", host.name, code)
    return RenewalRefused(code=code, message=message)


def renew(ca: PanelCA, headers: Mapping[str, str], body: bytes, now: dt.datetime,
          validity: dt.timedelta) -> EnrolledAgent:
    """Check a signed renewal request and sign its CSR for the same agent; raise RenewalRefused if not."""
    request, certificate = _signed(ca, headers, body, now)
    host = _current_host(certificate, now)
    agent_name = host.name
    try:
        csr = load_csr(request.csr)
        csr_names = csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if [str(n.value) for n in csr_names] != [agent_name]:
            raise BadCSR(_("CSR harus menamai agen yang sama"))
        if csr.public_key() == certificate.public_key():
            raise BadCSR(_("pembaruan memerlukan kunci baru"))
        issued = ca.issue_agent_certificate(request.csr, agent_name, [host.agent_address], validity)
    except BadCSR as bad:
        raise _refuse(str(bad), code="bad_csr", host=host) from bad
    enrolled = enrolled_agent(ca, agent_name, issued)
    host_lifecycle.renewed(host, enrolled.fingerprint, enrolled.not_after)
    return enrolled


def _signed(ca: PanelCA, headers: Mapping[str, str], body: bytes,
            now: dt.datetime) -> tuple[protocol.RenewalRequest, x509.Certificate]:
    """Return the request and the agent certificate whose key signed it, fresh; or refuse."""
    named = {name.lower(): value for name, value in headers.items()}  # header names ignore case
    timestamp = named.get(protocol.HEADER_TIMESTAMP.lower(), "")
    nonce = named.get(protocol.HEADER_NONCE.lower(), "")
    content_sha256 = named.get(protocol.HEADER_CONTENT_SHA256.lower(), "")
    signature = named.get(protocol.HEADER_SIGNATURE.lower(), "")
    if not (timestamp.isdigit() and len(timestamp) <= 12 and protocol.NONCE.match(nonce)
            and protocol.SHA256_HEX.match(content_sha256) and 0 < len(signature) <= 200):
        raise _refuse(_("permintaan pembaruan tidak bertanda tangan"), code="unsigned_request")
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), content_sha256):
        raise _refuse(_("isi permintaan tidak sesuai tanda tangannya"), code="content_mismatch")
    try:
        request = protocol.decode(protocol.RenewalRequest, json.loads(body))
        certificate = x509.load_pem_x509_certificate(request.certificate.encode())
    except (ValueError, protocol.MalformedRequest) as exc:
        raise _refuse(_("permintaan pembaruan tidak dapat dibaca"), code="malformed_request") from exc
    try:
        certificate.verify_directly_issued_by(ca.ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise _refuse(_("sertifikat ini tidak diterbitkan CA panel"), code="unknown_certificate") from exc
    if (certificate_role(certificate) != ROLE_AGENT
            or ExtendedKeyUsageOID.SERVER_AUTH not in usages(certificate)):
        raise _refuse(_("sertifikat ini bukan sertifikat agen"), code="unknown_certificate")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise _refuse(_("sertifikat agen sudah kedaluwarsa; daftarkan ulang agen dengan token baru"),
                      code="certificate_expired")
    message = protocol.canonical_request("POST", protocol.RENEWAL_AUDIENCE, protocol.RENEW_PATH,
                                         int(timestamp), nonce, content_sha256)
    if not protocol.verify_request(certificate.public_key(), signature, message):
        raise _refuse(_("tanda tangan permintaan tidak sah"), code="bad_signature")
    if abs(now.timestamp() - int(timestamp)) > protocol.MAX_SKEW_S:
        raise _refuse(_("stempel waktu permintaan tidak segar; periksa jam agen"), code="stale_request")
    return request, certificate


def _current_host(certificate: x509.Certificate, now: dt.datetime) -> Host:
    """Return the host `certificate` is the pinned one of, in use and not renewed lately; or refuse."""
    host = db.session.scalar(select(Host).where(Host.name == (common_name(certificate) or "")))
    if host is None or host.status == HostStatus.RETIRED:
        if host is not None:
            audit.record("host.renew_refused", host, actor=None, reason="host_removed")
        raise _refuse(_("host ini sudah dihapus dari panel"), code="host_removed", host=host)
    presented = fingerprint(certificate)
    if host.cert_fingerprint is None or not hmac.compare_digest(presented, host.cert_fingerprint):
        audit.record("host.renew_refused", host, actor=None, reason="not_current",
                     fingerprint=presented)
        raise _refuse(_("sertifikat ini bukan sertifikat agen yang berlaku"), code="not_current", host=host)
    if host.status == HostStatus.PENDING:
        audit.record("host.renew_refused", host, actor=None, reason="reenrolling")
        raise _refuse(_("host menunggu pendaftaran ulang dengan token baru"), code="reenrolling", host=host)
    renewed_at = host.cert_renewed_at
    if renewed_at is not None and renewed_at.tzinfo is None:  # SQLite keeps UTC without the zone
        renewed_at = renewed_at.replace(tzinfo=dt.UTC)
    if renewed_at is not None and now - renewed_at < RENEWAL_MIN_INTERVAL:
        raise _refuse(_("sertifikat agen baru saja diperbarui; coba lagi nanti"), code="too_soon", host=host)
    return host
