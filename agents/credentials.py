"""The agent's side of the panel ↔ agent channel: its own key, its CSR, what it trusts, and enrolment.

Enrolment, as the agent sees it (the panel's side is `panel.services.infra.enrolment`):
1. `wadah agent enroll --panel URL --token T --ca-sha256 F` makes a P-256 key that never leaves
   the host and sends a CSR with the token to the panel's `protocol.ENROLL_PATH`.
2. The agent accepts the answer only if the CA matches the fingerprint it was given, the certificate
   is the CA's and is for its own key, and the release-signing key carries the CA's endorsement; a
   panel impersonated on the way therefore cannot hand it another CA or another signing key.
3. `AgentCredentials` keeps the key, the certificates and the release-signing key in the state dir;
   its `server_context` accepts only clients the panel's CA issued.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from agents import private_files, protocol
from agents.protocol import signatures
from agents.protocol.certificates import (
    ROLE_AGENT,
    certificate_role,
    common_name,
    fingerprint,
    key_pem,
    normalise_sha256,
    subject,
    usages,
)
from agents.protocol.messages import EnrolmentBundle, EnrolmentRefused

__all__ = ["AgentCredentials", "EnrolmentRefused", "NotEnrolled", "enroll", "make_csr",
           "new_agent_key", "server_context", "verify_bundle"]


def new_agent_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key: ec.EllipticCurvePrivateKey, agent_name: str) -> str:
    """Return a PEM CSR for `key`; the panel decides the certificate's names, not this request."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(subject(agent_name, ROLE_AGENT))
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
            or ExtendedKeyUsageOID.SERVER_AUTH not in usages(cert)):
        raise refuse("sertifikat agen tidak berperan sebagai agen")
    if not isinstance(release_key, ed25519.Ed25519PublicKey):
        raise refuse("kunci penandatangan rilis harus Ed25519")
    try:
        ca_key.verify(endorsement, signatures.endorsement_statement(release_key),
                      ec.ECDSA(hashes.SHA256()))
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
        private_files.write(self.key_path, key_pem(key))
        private_files.write(self.cert_path, bundle.certificate.encode())
        private_files.write(self.ca_path, bundle.ca_certificate.encode())
        private_files.write(self.release_key_path, bundle.release_signing_key.encode())
        identity = {
            "agent_name": bundle.agent_name,
            "panel_url": panel_url,
            "ca_sha256": normalise_sha256(ca_sha256),
            "certificate_sha256": fingerprint(cert),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "enrolled_at": dt.datetime.now(dt.UTC).isoformat(),
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
