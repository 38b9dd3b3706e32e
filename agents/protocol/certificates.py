"""The certificate vocabulary of the panel ↔ agent channel: who is who, and how a certificate is named.

The panel's CA issues by these rules (`panel.services.infra.ca`); an agent checks by them
(`agents.credentials`).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agents.protocol import names

ORGANIZATION = "Wadah"
CA_COMMON_NAME = "Wadah Panel CA"
PANEL_COMMON_NAME = "wadah-panel"
ROLE_PANEL = "panel"  # carried in the certificate's OU; agents accept requests only from this role
ROLE_AGENT = "agent"


def key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
            passphrase: bytes | None = None) -> bytes:
    """Return a private key as PKCS#8 PEM, encrypted with `passphrase` if one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def fingerprint(certificate: x509.Certificate | str | bytes) -> str:
    """Return the certificate's sha256 as colon-separated uppercase hex (95 characters)."""
    if not isinstance(certificate, x509.Certificate):
        raw = certificate.encode() if isinstance(certificate, str) else certificate
        certificate = x509.load_pem_x509_certificate(raw)
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def normalise_sha256(value: str) -> str:
    """Return a sha256 fingerprint as 64 lowercase hex digits, whatever its colons or case."""
    digits = value.strip().lower().removeprefix("sha256:").replace(":", "")
    if not names.SHA256_HEX.match(digits):
        raise ValueError(f"bukan sidik jari sha256: {value!r}")
    return digits


def certificate_role(certificate: x509.Certificate) -> str | None:
    """Return the role (OU) a certificate was issued for, if it names exactly one."""
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return str(units[0].value) if len(units) == 1 else None


def common_name(certificate: x509.Certificate) -> str | None:
    """Return a certificate's common name, if it has exactly one."""
    found = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if len(found) == 1 else None


def usages(certificate: x509.Certificate) -> set[x509.ObjectIdentifier]:
    """Return a certificate's extended key usages (none if it has no such extension)."""
    try:
        return set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def is_panel_certificate(certificate: x509.Certificate) -> bool:
    """Return whether a CA-verified certificate is the panel's client one, not an agent's."""
    return (certificate_role(certificate) == ROLE_PANEL
            and common_name(certificate) == PANEL_COMMON_NAME
            and ExtendedKeyUsageOID.CLIENT_AUTH in usages(certificate)
            and ExtendedKeyUsageOID.SERVER_AUTH not in usages(certificate))


def subject(common: str, role: str | None = None) -> x509.Name:
    """Return the subject of a channel certificate: the organisation, the role and the name."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if role:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    return x509.Name(attributes)


def host_name(value: str) -> str:
    """Return `value` if it is a valid host name (a label, or a domain), else raise InvalidName."""
    if "." in value:
        return names.domain(value)
    return names.label(value)


def subject_alternative_names(addresses: Iterable[str]) -> list[x509.GeneralName]:
    """Return the certificate names of an agent reached at `addresses` (IP addresses or host names)."""
    found: list[x509.GeneralName] = []
    for address in addresses:
        try:
            found.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            found.append(x509.DNSName(host_name(address)))
    return found


def validate_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """Return the names and IP addresses an agent is reached at, refusing anything else."""
    if not addresses:
        raise ValueError("setidaknya satu nama atau alamat IP agen diperlukan")
    subject_alternative_names(addresses)
    return tuple(addresses)
