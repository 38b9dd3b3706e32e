"""nginx vhosts: what a vhost says, certbot's contract against the real nginx, ownership and TLS."""
from __future__ import annotations

import datetime
import http.client
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agents.errors import InvalidRequest, VhostError
from agents.host import Host
from agents.vhosts import Site, Vhosts
from tests.agents.test_host import (
    fetch,
    make_host,
    nginx_settings,
    php_release,
    remove_everything,
    spec,
    unique,
)

# --- what a vhost says ----------------------------------------------------------------------------


def offline(tmp_path: Path, **overrides: Any) -> Vhosts:
    from agents.vhosts import NginxSettings

    settings = dict(sites_dir=tmp_path, log_dir=tmp_path / "logs", listen="127.0.0.1:8080",
                    probe="127.0.0.1:8080")
    settings.update(overrides)
    return Vhosts(NginxSettings(**settings), owner="abc123")


def test_vhost_proxies_to_loopback_with_logs_headers_and_upload_limit(tmp_path: Path) -> None:
    text = offline(tmp_path).render(Site(app="portal", fqdn="portal.contoh.go.id", port=20005,
                                         instance="ff00aa", upload_max_mb=48))
    assert text.startswith("# Managed by the wadah agent abc123 for app portal;")
    assert "listen 127.0.0.1:8080;" in text and "server_name portal.contoh.go.id;" in text
    assert "proxy_pass http://127.0.0.1:20005;" in text
    assert f"access_log {tmp_path}/logs/portal.access.log;" in text
    assert f"error_log {tmp_path}/logs/portal.error.log;" in text
    assert "client_max_body_size 48m;" in text
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert f"add_header {header}" in text
    assert "proxy_hide_header X-Wadah-Instance;" in text  # an app cannot fake the switch
    assert "ssl" not in text


def test_stopped_app_answers_503(tmp_path: Path) -> None:
    text = offline(tmp_path).render(Site(app="portal", fqdn="portal.contoh.go.id", port=None,
                                         instance="stopped"))
    assert "return 503" in text and "proxy_pass" not in text


def test_tls_vhost_redirects_http_and_sends_hsts(tmp_path: Path) -> None:
    vhosts = offline(tmp_path, https_listen="127.0.0.1:8443")
    text = vhosts.render(Site(app="portal", fqdn="portal.contoh.go.id", port=20005,
                              instance="ff00aa", tls_cert=Path("/c.pem"), tls_key=Path("/k.pem")))
    assert "return 301 https://$host$request_uri;" in text
    assert "listen 127.0.0.1:8443 ssl;" in text and "ssl_certificate /c.pem;" in text
    assert "Strict-Transport-Security" in text


def test_wildcard_covers_one_label_under_its_domain_only(tmp_path: Path) -> None:
    vhosts = offline(tmp_path, https_listen="443", wildcard_cert=Path("/w.pem"),
                     wildcard_key=Path("/w.key"), wildcard_domain="contoh.go.id")
    assert vhosts.certificate("portal.contoh.go.id", None) == (Path("/w.pem"), Path("/w.key"))
    assert vhosts.certificate("a.b.contoh.go.id", None) is None
    assert vhosts.certificate("portal.lain.go.id", None) is None
    own = (Path("/own.pem"), Path("/own.key"))
    assert vhosts.certificate("portal.contoh.go.id", own) == own
    assert offline(tmp_path).certificate("portal.contoh.go.id", own) is None  # no TLS listen


def test_render_refuses_names_outside_the_grammar(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        offline(tmp_path).render(Site(app="portal", fqdn="x; include /etc/passwd", port=1,
                                      instance="a"))


# --- certbot's contract on the real nginx ---------------------------------------------------------


@pytest.fixture
def vhosts(testbed: dict[str, dict[str, Any]]) -> Iterator[Vhosts]:
    found = Vhosts(nginx_settings(testbed), owner=f"t{unique('v').split('-')[1]}")
    yield found
    for path in found.owned().values():
        path.unlink()
    found.reload()


def test_a_refused_new_vhost_leaves_no_file_and_nginx_serving(vhosts: Vhosts,
                                                              testbed: dict[str, Any]) -> None:
    app = unique("rusak")
    broken = vhosts.render(Site(app=app, fqdn=f"{app}.contoh.go.id", port=20001, instance="x"))
    broken = broken.replace("client_max_body_size", "client_max_body_sizee")
    with pytest.raises(VhostError) as refused:
        vhosts.apply({app: broken})
    assert "client_max_body_sizee" in refused.value.output
    assert not vhosts.path(app).exists()
    vhosts.test()  # the configuration on disk is valid again


def test_a_refused_change_puts_the_previous_file_back(vhosts: Vhosts) -> None:
    app = unique("balik")
    good = vhosts.render(Site(app=app, fqdn=f"{app}.contoh.go.id", port=None, instance="stopped"))
    vhosts.apply({app: good})
    with pytest.raises(VhostError):
        vhosts.apply({app: good.replace("return 503", "return 5033")})
    assert vhosts.read(app) == good
    vhosts.wait_switched(f"{app}.contoh.go.id", "stopped")  # and nginx serves it


def test_a_batch_is_all_or_nothing(vhosts: Vhosts) -> None:
    first, second = unique("satu"), unique("dua")
    texts = {a: vhosts.render(Site(app=a, fqdn=f"{a}.contoh.go.id", port=None, instance="stopped"))
             for a in (first, second)}
    texts[second] = texts[second].replace("server_name", "server_nam")
    with pytest.raises(VhostError):
        vhosts.apply(texts)  # type: ignore[arg-type]
    assert vhosts.read(first) is None and vhosts.read(second) is None


def test_only_files_marked_with_our_id_are_ours(vhosts: Vhosts) -> None:
    ours, theirs = unique("kita"), unique("mereka")
    vhosts.apply({ours: vhosts.render(Site(app=ours, fqdn=f"{ours}.contoh.go.id", port=None,
                                           instance="stopped"))})
    other = Vhosts(vhosts.settings, owner="0ther0")
    foreign = other.path(theirs)
    foreign.write_text(other.render(Site(app=theirs, fqdn=f"{theirs}.contoh.go.id", port=None,
                                         instance="stopped")))
    hand_written = vhosts.settings.sites_dir / "wadah-tulisan-tangan.conf"
    hand_written.write_text("# written by an operator\n")
    try:
        assert list(vhosts.owned()) == [ours]
        for app in (theirs, "tulisan-tangan"):  # never overwritten or deleted either
            with pytest.raises(VhostError):
                vhosts.apply({app: None})
        assert foreign.is_file() and hand_written.is_file()
    finally:
        foreign.unlink()
        hand_written.unlink()


# --- TLS end to end ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed(names: list[str]) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def https_get(port: int, fqdn: str) -> tuple[int, str, dict[str, str], str]:
    """GET / over TLS with SNI `fqdn`; return status, body, headers and the certificate's CN."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=fqdn) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {fqdn}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
        response.begin()
        body = response.read().decode()
        headers = dict(response.getheaders())
    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return response.status, body, headers, str(names[0].value)


def test_tls_from_the_wildcard_and_from_an_apps_own_certificate(
        testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
        runtime_images: dict[str, Any], mariadb_admin: dict[str, Any], tmp_path: Path) -> None:
    wildcard_cert, wildcard_key = self_signed(["*.contoh.go.id"])
    (tmp_path / "wildcard.pem").write_text(wildcard_cert)
    (tmp_path / "wildcard.key").write_text(wildcard_key)
    port = free_port()
    host: Host = make_host(testbed, docker_client, mariadb_admin, tmp_path,
                           https_listen=f"127.0.0.1:{port}",
                           wildcard_cert=tmp_path / "wildcard.pem",
                           wildcard_key=tmp_path / "wildcard.key", wildcard_domain="contoh.go.id")
    try:
        name = unique("aman")
        fqdn = f"{name}.contoh.go.id"
        host.deploy(spec(host, name, 1, php_release("tls")))
        status, body, headers, served_by = https_get(port, fqdn)
        assert status == 200 and body.startswith("rilis tls")
        assert served_by == "*.contoh.go.id" and "max-age" in headers["Strict-Transport-Security"]
        redirect = fetch(host, fqdn)
        assert redirect[0] == 301 and redirect[2]["location"] == f"https://{fqdn}/"

        own_cert, own_key = self_signed([fqdn])
        with pytest.raises(InvalidRequest):
            host.set_certificate(name, own_cert, self_signed([fqdn])[1])  # key of another cert
        host.set_certificate(name, own_cert, own_key)
        assert https_get(port, fqdn)[3] == fqdn
        host.remove_certificate(name)
        assert https_get(port, fqdn)[3] == "*.contoh.go.id"
    finally:
        remove_everything(host)
