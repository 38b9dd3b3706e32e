"""The agent's side of the panel ↔ agent channel: its own key, its CSR, what it trusts, and enrolment.

Enrolment, as the agent sees it (the panel's side is `panel.services.infra.enrolment`):
1. `wadah agent enroll --panel URL --token T --ca-sha256 F` makes a P-256 key that never leaves
   the host and sends a CSR with the token to the panel's `protocol.ENROLL_PATH`.
2. The agent accepts the answer only if the CA matches the fingerprint it was given, the certificate
   is the CA's and is for its own key, and the release-signing key carries the CA's endorsement; a
   panel impersonated on the way therefore cannot hand it another CA or another signing key.
3. `AgentCredentials` keeps the key, the certificates and the release-signing key in the state dir;
   its `server_context` accepts only clients the panel's CA issued.

Renewal: when less than `RENEW_WHEN_LEFT` of its certificate's life is left, `renew` makes a new key
and sends its CSR to the panel's `protocol.RENEW_PATH`, signed with the current key. The answer is
checked against the CA the agent already trusts, then installed so that a crash at any point leaves
a working key and certificate pair (`agent.key.next` is promoted only once its certificate is in place).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
import ssl
import time
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

__all__ = ["RENEW_WHEN_LEFT", "AgentCredentials", "EnrolmentRefused", "NotEnrolled", "enroll",
           "make_csr", "new_agent_key", "renew", "server_context", "verify_bundle"]

RENEW_WHEN_LEFT = 1 / 3  # renew once less than this share of the certificate's life is left


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
    NEXT_KEY = "agent.key.next"  # a renewal's new key, until its certificate is installed
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
             panel_url: str, panel_ca: str | None = None) -> None:
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
        if panel_ca:  # how renewals check the panel's HTTPS certificate, as the enrolment did
            identity["panel_ca"] = str(Path(panel_ca).resolve())
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
        self._finish_install()
        return server_context(self.cert_path, self.key_path, self.ca_path)

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        self._finish_install()
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("kunci agen harus kunci EC")
        return key

    def renewal_due(self, now: dt.datetime) -> bool:
        """Return whether less than `RENEW_WHEN_LEFT` of the certificate's life is left at `now`."""
        cert = self.certificate()
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        return cert.not_valid_after_utc - now < life * RENEW_WHEN_LEFT

    def install_renewal(self, key: ec.EllipticCurvePrivateKey, bundle: EnrolmentBundle) -> None:
        """Check a renewal's answer against the CA already trusted, and install it crash-safely."""
        trusted_ca = self.identity()["ca_sha256"]
        if bundle.agent_name != self.agent_name:
            raise EnrolmentRefused("bad_bundle", "panel memperbarui sertifikat agen lain")
        if bundle.ca_certificate.encode() != self.ca_path.read_bytes():
            raise EnrolmentRefused("bad_bundle", "panel menjawab dengan CA lain")
        verify_bundle(bundle, key, trusted_ca)
        cert = x509.load_pem_x509_certificate(bundle.certificate.encode())
        private_files.write(self.directory / self.NEXT_KEY, key_pem(key))
        private_files.write(self.cert_path, bundle.certificate.encode())
        self._finish_install()
        identity = self.identity()
        identity.update(certificate_sha256=fingerprint(cert),
                        not_after=cert.not_valid_after_utc.isoformat(),
                        renewed_at=dt.datetime.now(dt.UTC).isoformat())
        private_files.write(self.identity_path, json.dumps(identity, indent=2).encode())

    def _finish_install(self) -> None:
        # A renewal interrupted between its certificate and its key: the new key belongs to the
        # installed certificate, so promote it; a key for a certificate never installed is dropped.
        pending = self.directory / self.NEXT_KEY
        if not pending.is_file():
            return
        key = serialization.load_pem_private_key(pending.read_bytes(), password=None)
        if self.certificate().public_key() == key.public_key():
            pending.replace(self.key_path)
        else:
            pending.unlink()


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
    bundle = _answer(response)
    credentials.save(key, bundle, pin, panel_url, verify if isinstance(verify, str) else None)
    return credentials


def renew(credentials: AgentCredentials, *, verify: bool | str = True,
          timeout: float = 30.0) -> x509.Certificate:
    """Ask the panel for a new certificate for a new key, signed with the current key; install it."""
    import requests

    identity = credentials.identity()
    panel_url = str(identity["panel_url"])
    if not (panel_url.startswith("https://") or _loopback_http(panel_url)):
        raise EnrolmentRefused("insecure_panel_url", "alamat panel harus https://")
    current = credentials.private_key()
    key = new_agent_key()
    body = json.dumps({"certificate": credentials.cert_path.read_text(),
                       "csr": make_csr(key, credentials.agent_name)}).encode()
    digest = hashlib.sha256(body).hexdigest()
    timestamp, nonce = int(time.time()), secrets.token_hex(16)
    message = protocol.canonical_request("POST", protocol.RENEWAL_AUDIENCE, protocol.RENEW_PATH,
                                         timestamp, nonce, digest)
    headers = {"Content-Type": "application/json", protocol.HEADER_TIMESTAMP: str(timestamp),
               protocol.HEADER_NONCE: nonce, protocol.HEADER_CONTENT_SHA256: digest,
               protocol.HEADER_SIGNATURE: protocol.sign_request(current, message)}
    verify = identity.get("panel_ca") or verify
    try:
        response = requests.post(panel_url.rstrip("/") + protocol.RENEW_PATH, data=body,
                                 headers=headers, timeout=timeout, verify=verify,
                                 allow_redirects=False)
    except requests.exceptions.RequestException as exc:
        raise EnrolmentRefused("panel_unreachable", f"panel tidak dapat dihubungi: {exc}") from exc
    bundle = _answer(response)
    credentials.install_renewal(key, bundle)
    return credentials.certificate()


def _answer(response: Any) -> EnrolmentBundle:
    """Return the bundle of a panel's answer, or raise EnrolmentRefused with the panel's reason."""
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
        return protocol.decode(EnrolmentBundle, answer)
    except protocol.MalformedRequest as exc:
        raise EnrolmentRefused("bad_bundle", f"jawaban panel tidak sah: {exc}") from exc
