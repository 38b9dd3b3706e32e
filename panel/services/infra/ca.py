"""The panel's internal CA: it issues the channel's certificates and signs what may be deployed.

Files in the instance folder's `ca/` (0600): the CA's key and certificate, the panel's client
certificate and key, and the release-signing key. They are made once, by an explicit init path
(`wadah up`, `wadah init-config`, the testbed), never as a side effect of reading them.
"""
from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from agents import private_files, protocol
from agents.protocol.certificates import (
    CA_COMMON_NAME,
    PANEL_COMMON_NAME,
    ROLE_AGENT,
    ROLE_PANEL,
    host_name,
    key_pem,
    subject,
    subject_alternative_names,
    validate_addresses,
)
from panel.i18n import gettext as _

CA_VALIDITY_DAYS = 3650
PANEL_CERT_DAYS = 825
AGENT_CERT_DAYS = 397
AGENT_CERT_VALIDITY = dt.timedelta(days=AGENT_CERT_DAYS)
BACKDATE = dt.timedelta(minutes=5)  # hosts whose clocks lag a little still accept a new certificate


class BadCSR(ValueError):
    """An agent's CSR the CA will not sign; the message says why."""


def load_csr(csr_pem: str | bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR, or raise BadCSR."""
    raw = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        return x509.load_pem_x509_csr(raw)
    except ValueError as exc:
        raise BadCSR(_("CSR tidak dapat dibaca")) from exc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
            raise FileExistsError(_("CA sudah ada di %(path)s", path=str(directory)))
        private_files.private_dir(directory)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        name = subject(CA_COMMON_NAME)
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
        private_files.write(directory / cls.RELEASE_KEY, key_pem(release_key, passphrase))
        private_files.write(directory / cls.CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
        private_files.write(directory / cls.CA_KEY, key_pem(key, passphrase))
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
    def exists(cls, directory: Path | str) -> bool:
        """Return whether a CA was made in `directory`."""
        return (Path(directory) / cls.CA_KEY).exists()

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

    def _issue(self, owner: x509.Name, public_key: Any, usage: x509.ObjectIdentifier,
               validity: dt.timedelta, names: list[x509.GeneralName] | None = None
               ) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(owner).issuer_name(self.ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + validity, self.ca_cert.not_valid_after_utc))
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
        cert = self._issue(subject(PANEL_COMMON_NAME, ROLE_PANEL), key.public_key(),
                           ExtendedKeyUsageOID.CLIENT_AUTH,
                           dt.timedelta(days=PANEL_CERT_DAYS))
        private_files.write(self.client_key_path, key_pem(key))
        private_files.write(self.client_cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return cert

    def issue_agent_certificate(self, csr_pem: str | bytes, agent_name: str,
                                addresses: Sequence[str],
                                validity: dt.timedelta = AGENT_CERT_VALIDITY) -> x509.Certificate:
        """Sign an agent's CSR as a server certificate for `agent_name` at `addresses` only."""
        csr = load_csr(csr_pem)
        if not csr.is_signature_valid:
            raise BadCSR(_("tanda tangan CSR tidak sah"))
        public_key = csr.public_key()
        if not (isinstance(public_key, ec.EllipticCurvePublicKey)
                and public_key.curve.name in ("secp256r1", "secp384r1")):
            raise BadCSR(_("kunci agen harus EC P-256 atau P-384"))
        # The subject and names come from what the panel decided, never from the CSR.
        return self._issue(subject(host_name(agent_name), ROLE_AGENT), public_key,
                           ExtendedKeyUsageOID.SERVER_AUTH, validity,
                           subject_alternative_names(validate_addresses(addresses)))

    @property
    def release_signing_public_pem(self) -> str:
        return self.release_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def endorse_release_key(self) -> str:
        """Return the CA's signature over the release-signing public key, in base64."""
        statement = protocol.endorsement_statement(self.release_key.public_key())
        signature = self.ca_key.sign(statement, ec.ECDSA(hashes.SHA256()))
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
