"""The certificate check of an app's name, against a real TLS server on loopback."""
from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from panel.services.apps import tls


def self_signed(tmp_path: Path, names: list[str], days: int) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@contextmanager
def tls_server(context: ssl.SSLContext) -> Iterator[int]:
    """Serve TLS handshakes on a loopback port until the block ends; yield the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the verifying client hangs up on a self-signed certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_wildcard_certificate_covers_the_apps_name_but_is_not_trusted_when_self_signed(
        app, tmp_path: Path) -> None:
    with app.app_context(), tls_server(self_signed(tmp_path, ["*.contoh.go.id"], days=60)) as port:
        found = tls.probe("127.0.0.1", port, "simpeg.contoh.go.id")
    assert found.covers_name and not found.trusted
    assert found.names == ["*.contoh.go.id"] and found.issuer == "*.contoh.go.id"
    assert 58 <= found.days_left <= 60


def test_a_wildcard_does_not_cover_a_deeper_name_or_another_domain(app, tmp_path: Path) -> None:
    with app.app_context(), tls_server(self_signed(tmp_path, ["*.contoh.go.id"], days=60)) as port:
        assert not tls.probe("127.0.0.1", port, "a.b.contoh.go.id").covers_name
        assert not tls.probe("127.0.0.1", port, "simpeg.lain.go.id").covers_name


def test_an_expired_certificate_shows_negative_days(app, tmp_path: Path) -> None:
    with app.app_context(), tls_server(self_signed(tmp_path, ["simpeg.contoh.go.id"], days=-2)) as port:
        found = tls.probe("127.0.0.1", port, "simpeg.contoh.go.id")
    assert found.days_left < 0 and found.covers_name


def test_nothing_listening_is_a_clear_error(app) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with app.app_context(), pytest.raises(tls.TlsUnavailable, match=f"127.0.0.1:{port}"):
        tls.probe("127.0.0.1", port, "simpeg.contoh.go.id")
