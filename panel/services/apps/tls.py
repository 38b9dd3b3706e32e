"""What certificate an app's name is served with: the panel looks the way a visitor's browser does.

The handshake accepts any certificate so that a self-signed, expired or wrong-name one can be
described rather than only refused; whether a browser would trust it is a second, verifying handshake.
"""
from __future__ import annotations

import socket
import ssl
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from panel.i18n import gettext as _

TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    names: list[str]
    not_after: str  # ISO 8601, UTC
    days_left: int
    covers_name: bool
    trusted: bool  # a browser with the system's CA store would accept it for the name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TlsUnavailable(Exception):
    """Nothing answers TLS for the name there; the message says what happened."""


def probe(address: str, port: int, fqdn: str, now: datetime | None = None) -> Certificate:
    """Fetch the certificate served for `fqdn` (SNI) at `address`:`port` and describe it."""
    inspecting = ssl.create_default_context()
    inspecting.check_hostname, inspecting.verify_mode = False, ssl.CERT_NONE
    der = _handshake(inspecting, address, port, fqdn)
    if der is None:
        raise TlsUnavailable(_("%(where)s tidak mengirim sertifikat.", where=f"{address}:{port}"))
    certificate = x509.load_der_x509_certificate(der)
    names = _names(certificate)
    not_after = certificate.not_valid_after_utc
    return Certificate(
        subject=_common_name(certificate.subject), issuer=_common_name(certificate.issuer), names=names,
        not_after=not_after.isoformat(), days_left=(not_after - (now or datetime.now(UTC))).days,
        covers_name=any(_matches(pattern, fqdn) for pattern in names),
        trusted=_trusted(address, port, fqdn))


def _handshake(context: ssl.SSLContext, address: str, port: int, fqdn: str) -> bytes | None:
    try:
        with socket.create_connection((address, port), timeout=TIMEOUT_SECONDS) as raw:
            with context.wrap_socket(raw, server_hostname=fqdn) as tls:
                return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as error:  # a refused certificate included, when verifying
        raise TlsUnavailable(_("%(where)s tidak menjawab TLS untuk %(fqdn)s: %(error)s",
                                 where=f"{address}:{port}", fqdn=fqdn, error=error)) from error


def _trusted(address: str, port: int, fqdn: str) -> bool:
    try:
        _handshake(ssl.create_default_context(), address, port, fqdn)
    except TlsUnavailable:
        return False
    return True


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(name) for name in extension.value.get_values_for_type(x509.DNSName)]


def _matches(pattern: str, fqdn: str) -> bool:
    """RFC 6125: a wildcard stands for exactly one leftmost label."""
    pattern, fqdn = pattern.lower().rstrip("."), fqdn.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = fqdn.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == fqdn


def _common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()
