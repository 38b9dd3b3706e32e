"""The keys and certificates of the panel ↔ agent channel, and how an agent enrols.

Panel side: `PanelCA` (the panel's internal CA, its client certificate and its release-signing key)
and `Enrolments` (one-time tokens, redeemed for a certificate). Agent side: `AgentCredentials`
(what an enrolled agent keeps in its state dir) and `verify_bundle`.

Enrolment, step by step:
1. The panel calls `Enrolments.issue_token(name, addresses)`; the token is shown once, with the
   command to run on the host (`enroll_command`), which also carries the CA's sha256 fingerprint.
2. On the host, `wadah agent enroll --panel URL --token T --ca-sha256 F` makes a P-256 key that
   never leaves the host and sends a CSR with the token to the panel's `protocol.ENROLL_PATH`.
3. The panel's route calls `Enrolments.redeem(token, csr)`: the token is checked against its hash,
   its expiry and whether it was used, then spent; the certificate names only what the token was
   issued for, whatever the CSR asks.
4. The agent accepts the answer only if the CA matches the fingerprint it was given, the certificate
   is the CA's and is for its own key, and the release-signing key carries the CA's endorsement; a
   panel impersonated on the way therefore cannot hand it another CA or another signing key.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agents import private_files, protocol
from agents.protocol import EnrolmentBundle

ORGANIZATION = "Wadah"
CA_COMMON_NAME = "Wadah Panel CA"
PANEL_COMMON_NAME = "wadah-panel"
ROLE_PANEL = "panel"  # carried in the certificate's OU; agents accept requests only from this role
ROLE_AGENT = "agent"

CA_VALIDITY_DAYS = 3650
PANEL_CERT_DAYS = 825
AGENT_CERT_DAYS = 397
BACKDATE = dt.timedelta(minutes=5)  # hosts whose clocks lag a little still accept a new certificate
ENROLMENT_TOKEN_TTL_S = 24 * 3600
TOKEN_PREFIX = "wdh1"  # noqa: S105 - a format marker, not a secret
_TOKEN = re.compile(r"^wdh1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")
_ENDORSEMENT_CONTEXT = b"wadah-release-signing-key-v1\n"


class EnrolmentRefused(Exception):
    """An enrolment the panel or the agent will not go through with; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
             passphrase: bytes | None = None) -> bytes:
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
    if not protocol.SHA256_HEX.match(digits):
        raise ValueError(f"bukan sidik jari sha256: {value!r}")
    return digits


def certificate_role(certificate: x509.Certificate) -> str | None:
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return str(units[0].value) if len(units) == 1 else None


def common_name(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if len(names) == 1 else None


def _usages(certificate: x509.Certificate) -> set[x509.ObjectIdentifier]:
    try:
        return set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def is_panel_certificate(certificate: x509.Certificate) -> bool:
    """Return whether a CA-verified certificate is the panel's client one, not an agent's."""
    return (certificate_role(certificate) == ROLE_PANEL
            and common_name(certificate) == PANEL_COMMON_NAME
            and ExtendedKeyUsageOID.CLIENT_AUTH in _usages(certificate)
            and ExtendedKeyUsageOID.SERVER_AUTH not in _usages(certificate))


def _name(common: str, role: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if role:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    return x509.Name(attributes)


def _subject_alternative_names(addresses: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for address in addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            names.append(x509.DNSName(_host_name(address)))
    return names


def _host_name(value: str) -> str:
    if "." in value:
        return protocol.domain(value)
    return protocol.label(value)


def validate_addresses(addresses: Sequence[str]) -> tuple[str, ...]:
    """Return the names and IP addresses an agent is reached at, refusing anything else."""
    if not addresses:
        raise ValueError("setidaknya satu nama atau alamat IP agen diperlukan")
    _subject_alternative_names(addresses)
    return tuple(addresses)


class PanelCA:
    """The panel's internal CA, with the panel's client certificate and release-signing key.

    Files in `directory` (0600): ca.key, ca.crt, panel.key, panel.crt, release-signing.key.
    """

    CA_KEY, CA_CERT = "ca.key", "ca.crt"
    PANEL_KEY, PANEL_CERT = "panel.key", "panel.crt"
    RELEASE_KEY = "release-signing.key"

    def __init__(self, directory: Path, ca_key: ec.EllipticCurvePrivateKey,
                 ca_cert: x509.Certificate, release_key: ed25519.Ed25519PrivateKey) -> None:
        self.directory = directory
        self.ca_key = ca_key
        self.ca_cert = ca_cert
        self.release_key = release_key

    @classmethod
    def create(cls, directory: Path | str, passphrase: bytes | None = None) -> PanelCA:
        """Create a new CA, the panel's client certificate and a release-signing key."""
        directory = Path(directory)
        if (directory / cls.CA_KEY).exists():
            raise FileExistsError(f"CA sudah ada di {directory}")
        private_files.private_dir(directory)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        name = _name(CA_COMMON_NAME)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + dt.timedelta(days=CA_VALIDITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        release_key = ed25519.Ed25519PrivateKey.generate()
        private_files.write(directory / cls.RELEASE_KEY, _key_pem(release_key, passphrase))
        private_files.write(directory / cls.CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
        private_files.write(directory / cls.CA_KEY, _key_pem(key, passphrase))
        ca = cls(directory, key, cert, release_key)
        ca.issue_panel_certificate()
        return ca

    @classmethod
    def load(cls, directory: Path | str, passphrase: bytes | None = None) -> PanelCA:
        """Load the CA kept in `directory`, taking group and other access from its files first."""
        directory = Path(directory)
        private_files.tighten(directory, private_files.PRIVATE_DIR)
        for name in (cls.CA_KEY, cls.CA_CERT, cls.RELEASE_KEY, cls.PANEL_KEY, cls.PANEL_CERT):
            private_files.tighten(directory / name)
        key = serialization.load_pem_private_key((directory / cls.CA_KEY).read_bytes(), passphrase)
        release = serialization.load_pem_private_key(
            (directory / cls.RELEASE_KEY).read_bytes(), passphrase)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("kunci CA harus kunci EC")
        if not isinstance(release, ed25519.Ed25519PrivateKey):
            raise ValueError("kunci penandatangan rilis harus Ed25519")
        cert = x509.load_pem_x509_certificate((directory / cls.CA_CERT).read_bytes())
        return cls(directory, key, cert, release)

    @classmethod
    def load_or_create(cls, directory: Path | str, passphrase: bytes | None = None) -> PanelCA:
        if (Path(directory) / cls.CA_KEY).exists():
            return cls.load(directory, passphrase)
        return cls.create(directory, passphrase)

    @property
    def ca_cert_path(self) -> Path:
        return self.directory / self.CA_CERT

    @property
    def client_cert_path(self) -> Path:
        return self.directory / self.PANEL_CERT

    @property
    def client_key_path(self) -> Path:
        return self.directory / self.PANEL_KEY

    @property
    def ca_certificate_pem(self) -> str:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def ca_sha256(self) -> str:
        """The CA certificate's sha256, as an agent is told to pin it at enrolment."""
        return self.ca_cert.fingerprint(hashes.SHA256()).hex()

    def _issue(self, subject: x509.Name, public_key: Any, usage: x509.ObjectIdentifier,
               days: int, names: list[x509.GeneralName] | None = None) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + dt.timedelta(days=days), self.ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_encipherment=False, key_cert_sign=False,
                crl_sign=False, content_commitment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.ca_key.public_key()), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def issue_panel_certificate(self) -> x509.Certificate:
        """Issue (or renew) the panel's client certificate and key, written beside the CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(_name(PANEL_COMMON_NAME, ROLE_PANEL), key.public_key(),
                           ExtendedKeyUsageOID.CLIENT_AUTH, PANEL_CERT_DAYS)
        private_files.write(self.client_key_path, _key_pem(key))
        private_files.write(self.client_cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return cert

    def issue_agent_certificate(self, csr_pem: str | bytes, agent_name: str,
                                addresses: Sequence[str]) -> x509.Certificate:
        """Sign an agent's CSR as a server certificate for `agent_name` at `addresses` only."""
        raw = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
        try:
            csr = x509.load_pem_x509_csr(raw)
        except ValueError as exc:
            raise EnrolmentRefused("bad_csr", "CSR tidak dapat dibaca") from exc
        if not csr.is_signature_valid:
            raise EnrolmentRefused("bad_csr", "tanda tangan CSR tidak sah")
        public_key = csr.public_key()
        if not (isinstance(public_key, ec.EllipticCurvePublicKey)
                and public_key.curve.name in ("secp256r1", "secp384r1")):
            raise EnrolmentRefused("bad_csr", "kunci agen harus EC P-256 atau P-384")
        # The subject and names come from what the panel decided, never from the CSR.
        return self._issue(_name(_host_name(agent_name), ROLE_AGENT), public_key,
                           ExtendedKeyUsageOID.SERVER_AUTH, AGENT_CERT_DAYS,
                           _subject_alternative_names(validate_addresses(addresses)))

    @property
    def release_signing_public_pem(self) -> str:
        return self.release_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def endorse_release_key(self) -> str:
        """Return the CA's signature over the release-signing public key, in base64."""
        raw = self.release_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                          serialization.PublicFormat.Raw)
        signature = self.ca_key.sign(_ENDORSEMENT_CONTEXT + raw, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def sign_release(self, app: str, release_id: int, artifact_sha256: str, verdict: str,
                     image_id: str | None = None) -> str:
        """Sign a release's scan verdict (v1), or its verdict and built image (v2), for a deploy.

        The v2 statement is signed only once the files the build made were scanned too.
        """
        if verdict not in protocol.DEPLOYABLE_VERDICTS:
            raise ValueError(f"putusan {verdict!r} tidak boleh dipasang")
        return protocol.sign_release(self.release_key, app, release_id, artifact_sha256, verdict,
                                     image_id)


# --- Panel side: one-time enrolment tokens ------------------------------------------------------


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


def _secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Enrolments:
    """Issues one-time enrolment tokens and redeems them for agent certificates."""

    def __init__(self, ca: PanelCA, tokens: EnrolmentTokenStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.ca = ca
        self.tokens = tokens
        self.clock = clock

    def issue_token(self, agent_name: str, addresses: Sequence[str],
                    ttl_s: float = ENROLMENT_TOKEN_TTL_S) -> str:
        """Create a one-time token for the agent `agent_name` reached at `addresses`; return it."""
        _host_name(agent_name)
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
            raise EnrolmentRefused("token_invalid", "token pendaftaran tidak sah")
        token_id, secret = match.groups()
        record = self.tokens.get(token_id)
        if record is None or not hmac.compare_digest(record.secret_sha256, _secret_sha256(secret)):
            raise EnrolmentRefused("token_invalid", "token pendaftaran tidak sah")
        if record.used_at is not None:
            raise EnrolmentRefused("token_used", "token pendaftaran sudah pernah dipakai")
        now = self.clock()
        if now >= record.expires_at:
            raise EnrolmentRefused("token_expired", "token pendaftaran sudah kedaluwarsa")
        # The CSR is checked before the token is spent, so a bad CSR does not burn the token.
        certificate = self.ca.issue_agent_certificate(csr_pem, record.agent_name, record.addresses)
        if not self.tokens.spend(token_id, now):
            raise EnrolmentRefused("token_used", "token pendaftaran sudah pernah dipakai")
        bundle = EnrolmentBundle(
            agent_name=record.agent_name,
            certificate=certificate.public_bytes(serialization.Encoding.PEM).decode(),
            ca_certificate=self.ca.ca_certificate_pem,
            release_signing_key=self.ca.release_signing_public_pem,
            release_signing_key_endorsement=self.ca.endorse_release_key(),
        )
        return EnrolledAgent(record.agent_name, fingerprint(certificate),
                             certificate.not_valid_after_utc, bundle)

    def redeem_request(self, body: Any) -> EnrolledAgent:
        """Redeem a parsed JSON `EnrolmentRequest` body, as the panel's enrol route receives it."""
        try:
            request = protocol.decode(protocol.EnrolmentRequest, body)
        except protocol.MalformedRequest as exc:
            raise EnrolmentRefused("malformed_request", str(exc)) from exc
        return self.redeem(request.token, request.csr)


# --- Agent side ---------------------------------------------------------------------------------


def new_agent_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key: ec.EllipticCurvePrivateKey, agent_name: str) -> str:
    """Return a PEM CSR for `key`; the panel decides the certificate's names, not this request."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(_name(agent_name, ROLE_AGENT))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def verify_bundle(bundle: EnrolmentBundle, key: ec.EllipticCurvePrivateKey,
                  ca_sha256: str) -> None:
    """Check an enrolment answer against the pinned CA and the agent's own key, or raise."""
    def refuse(message: str) -> EnrolmentRefused:
        return EnrolmentRefused("bad_bundle", message)

    try:
        ca = x509.load_pem_x509_certificate(bundle.ca_certificate.encode())
        cert = x509.load_pem_x509_certificate(bundle.certificate.encode())
        release_key = serialization.load_pem_public_key(bundle.release_signing_key.encode())
        endorsement = base64.b64decode(bundle.release_signing_key_endorsement, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise refuse(f"jawaban panel tidak dapat dibaca: {exc}") from exc
    if not hmac.compare_digest(ca.fingerprint(hashes.SHA256()).hex(), normalise_sha256(ca_sha256)):
        raise refuse("sertifikat CA dari panel tidak cocok dengan sidik jari --ca-sha256")
    ca_key = ca.public_key()
    if not isinstance(ca_key, ec.EllipticCurvePublicKey):
        raise refuse("kunci CA bukan kunci EC")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise refuse("sertifikat agen tidak diterbitkan oleh CA panel") from exc
    if cert.public_key() != key.public_key():
        raise refuse("sertifikat agen bukan untuk kunci agen ini")
    if (certificate_role(cert) != ROLE_AGENT or common_name(cert) != bundle.agent_name
            or ExtendedKeyUsageOID.SERVER_AUTH not in _usages(cert)):
        raise refuse("sertifikat agen tidak berperan sebagai agen")
    if not isinstance(release_key, ed25519.Ed25519PublicKey):
        raise refuse("kunci penandatangan rilis harus Ed25519")
    raw = release_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        ca_key.verify(endorsement, _ENDORSEMENT_CONTEXT + raw, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise refuse("kunci penandatangan rilis tidak disahkan oleh CA") from exc


def _loopback_http(url: str) -> bool:
    # The embedded one-machine setup: the request never leaves the host, and the answer is
    # trusted only through the pinned CA fingerprint anyway.
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


class NotEnrolled(RuntimeError):
    pass


class AgentCredentials:
    """What an enrolled agent keeps under `<state dir>/tls` (every file 0600)."""

    KEY, CERT, CA_CERT = "agent.key", "agent.crt", "ca.crt"
    RELEASE_KEY, IDENTITY = "release-signing.pub", "identity.json"

    def __init__(self, state_dir: Path | str) -> None:
        self.directory = Path(state_dir) / "tls"

    @property
    def key_path(self) -> Path:
        return self.directory / self.KEY

    @property
    def cert_path(self) -> Path:
        return self.directory / self.CERT

    @property
    def ca_path(self) -> Path:
        return self.directory / self.CA_CERT

    @property
    def release_key_path(self) -> Path:
        return self.directory / self.RELEASE_KEY

    @property
    def identity_path(self) -> Path:
        return self.directory / self.IDENTITY

    def exists(self) -> bool:
        return all(p.is_file() for p in (self.key_path, self.cert_path, self.ca_path,
                                         self.release_key_path, self.identity_path))

    def save(self, key: ec.EllipticCurvePrivateKey, bundle: EnrolmentBundle, ca_sha256: str,
             panel_url: str) -> None:
        """Verify an enrolment answer and keep it with the agent's key."""
        verify_bundle(bundle, key, ca_sha256)
        cert = x509.load_pem_x509_certificate(bundle.certificate.encode())
        private_files.write(self.key_path, _key_pem(key))
        private_files.write(self.cert_path, bundle.certificate.encode())
        private_files.write(self.ca_path, bundle.ca_certificate.encode())
        private_files.write(self.release_key_path, bundle.release_signing_key.encode())
        identity = {
            "agent_name": bundle.agent_name,
            "panel_url": panel_url,
            "ca_sha256": normalise_sha256(ca_sha256),
            "certificate_sha256": fingerprint(cert),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "enrolled_at": _now().isoformat(),
        }
        private_files.write(self.identity_path, json.dumps(identity, indent=2).encode())

    def identity(self) -> dict[str, Any]:
        if not self.exists():
            raise NotEnrolled(f"agen belum terdaftar: tidak ada kredensial di {self.directory}"
                              " (jalankan `wadah agent enroll`)")
        data: dict[str, Any] = json.loads(self.identity_path.read_text())
        return data

    @property
    def agent_name(self) -> str:
        return str(self.identity()["agent_name"])

    def release_public_key(self) -> ed25519.Ed25519PublicKey:
        key = serialization.load_pem_public_key(self.release_key_path.read_bytes())
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError("kunci penandatangan rilis harus Ed25519")
        return key

    def server_context(self) -> ssl.SSLContext:
        """Return the TLS context of the agent's API: its certificate, and only the panel's CA."""
        self.identity()
        return server_context(self.cert_path, self.key_path, self.ca_path)


def server_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """Return a TLS 1.3 server context that requires a client certificate issued by `ca`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_verify_locations(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    context.options |= ssl.OP_NO_COMPRESSION
    return context


def enroll(state_dir: Path | str, panel_url: str, token: str, ca_sha256: str, *,
           verify: bool | str = True, force: bool = False,
           timeout: float = 30.0) -> AgentCredentials:
    """Enrol this agent with the panel: make a key, send a CSR with the token, keep the answer.

    `verify` is how the panel's own HTTPS certificate is checked (a CA bundle path, or the system's
    CAs); the answer is trusted only if it matches the pinned `ca_sha256` besides.
    """
    import requests

    credentials = AgentCredentials(state_dir)
    if credentials.exists() and not force:
        raise EnrolmentRefused("already_enrolled",
                               f"agen sudah terdaftar ({credentials.directory});"
                               " pakai --force untuk mendaftar ulang")
    if not (panel_url.startswith("https://") or _loopback_http(panel_url)):
        raise EnrolmentRefused("insecure_panel_url", "alamat panel harus https://")
    try:
        pin = normalise_sha256(ca_sha256)
    except ValueError as exc:
        raise EnrolmentRefused("bad_pin", str(exc)) from exc
    key = new_agent_key()
    body = {"token": token, "csr": make_csr(key, "wadah-agent")}
    url = panel_url.rstrip("/") + protocol.ENROLL_PATH
    try:
        response = requests.post(url, json=body, timeout=timeout, verify=verify,
                                 allow_redirects=False)
    except requests.exceptions.RequestException as exc:
        raise EnrolmentRefused("panel_unreachable", f"panel tidak dapat dihubungi: {exc}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 200 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict):
            code = str(error.get("code") or error.get("name") or "refused")
            raise EnrolmentRefused(code, str(error.get("message", "")))
        raise EnrolmentRefused("bad_answer", f"panel menjawab HTTP {response.status_code}")
    try:
        bundle = protocol.decode(EnrolmentBundle, answer)
    except protocol.MalformedRequest as exc:
        raise EnrolmentRefused("bad_bundle", f"jawaban panel tidak sah: {exc}") from exc
    credentials.save(key, bundle, pin, panel_url)
    return credentials
