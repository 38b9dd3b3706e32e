"""nginx vhosts: what a vhost says, certbot's contract against the real nginx, ownership and TLS."""
from __future__ import annotations

import datetime
import gzip
import http.client
import http.server
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agents import defaults
from agents.errors import InvalidRequest, VhostError
from agents.facts import tail_lines
from agents.host import HostAgent
from agents.vhosts import Site, Vhosts, rotated
from tests.agents.support import (
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
    assert f"error_log {tmp_path}/logs/portal.error.log;" in text
    assert "client_max_body_size 48m;" in text
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert f"add_header {header}" in text
    assert "proxy_hide_header X-Wadah-Instance;" in text  # an app cannot fake the switch
    assert "ssl" not in text


def test_vhost_keeps_a_pool_of_connections_named_after_the_release_instance(tmp_path: Path) -> None:
    vhosts = offline(tmp_path)
    text = vhosts.render(Site(app="portal", fqdn="portal.contoh.go.id", port=20005,
                              instance="ff00aa"))
    upstream = text[text.index("upstream "):text.index("server {")]
    assert upstream.startswith("upstream wadah-portal-ff00aa {")
    assert "server 127.0.0.1:20005;" in upstream and "keepalive 32;" in upstream
    assert "keepalive_timeout 4s;" in upstream  # below the runtime images' own idle timeouts
    assert "proxy_pass http://wadah-portal-ff00aa;" in text
    assert 'proxy_http_version 1.1;' in text and 'proxy_set_header Connection "";' in text
    assert "127.0.0.1:20005" not in text.replace(upstream, "")  # only through the pool
    switched = vhosts.render(Site(app="portal", fqdn="portal.contoh.go.id", port=20006,
                                  instance="0b1c2d"))
    assert "upstream wadah-portal-0b1c2d {" in switched and "wadah-portal-ff00aa" not in switched
    with pytest.raises(ValueError):
        vhosts.render(Site(app="portal", fqdn="portal.contoh.go.id", port=20005,
                           instance="x; include /etc/passwd"))


def test_vhost_buffers_its_log_compresses_text_and_includes_the_operators_rules(
        tmp_path: Path) -> None:
    text = offline(tmp_path).render(Site(app="portal", fqdn="portal.contoh.go.id", port=20005,
                                         instance="ff00aa"))
    assert (f"access_log {tmp_path}/logs/portal.access.log combined buffer=64k flush=2s;"
            in text)
    assert "gzip on;" in text and "gzip_proxied any;" in text and "gzip_vary on;" in text
    types = next(line for line in text.splitlines() if "gzip_types" in line)
    assert "text/css" in types and "application/javascript" in types and "image/svg+xml" in types
    assert "text/html" not in types  # always compressed; nginx warns when it is listed
    assert "sendfile on;" in text and "tcp_nopush on;" in text
    assert "proxy_buffer_size 16k;" in text and "proxy_buffers 16 16k;" in text
    assert "proxy_read_timeout 60s;" in text and "proxy_send_timeout 60s;" in text
    # Globs: a missing directory or file is fine; the app's name is never a pattern.
    assert f"include {tmp_path.parent}/wadah-extra/all/*.conf;" in text
    assert f"include {tmp_path.parent}/wadah-extra/portal.con[f];" in text
    own = offline(tmp_path, extra_dir=tmp_path / "aturan").render(
        Site(app="portal", fqdn="portal.contoh.go.id", port=None, instance="stopped"))
    assert f"include {tmp_path}/aturan/portal.con[f];" in own and "upstream" not in own


def test_an_app_with_its_own_ip_listens_on_that_address_only(tmp_path: Path) -> None:
    site = Site(app="portal", fqdn="portal.contoh.go.id", port=20005, instance="ff00aa",
                listen_address="127.0.0.18")
    text = offline(tmp_path).render(site)
    assert "listen 127.0.0.18:8080;" in text and "127.0.0.1:8080" not in text
    assert "listen [fd00::18]:80;" in offline(tmp_path, listen="80").render(
        Site(app="portal", fqdn="portal.contoh.go.id", port=20005, instance="ff00aa",
             listen_address="fd00::18"))
    with pytest.raises(ValueError):
        offline(tmp_path).render(Site(app="portal", fqdn="portal.contoh.go.id", port=20005,
                                      instance="ff00aa", listen_address="127.0.0.18; include /etc"))


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


# --- what a served app gets, on the real nginx -------------------------------------------------------


class Upstream:
    """A keep-alive HTTP/1.1 server on loopback standing in for an app's container."""

    def __init__(self, header_bytes: int = 0) -> None:
        self.connections: set[int] = set()  # client ports nginx connected from
        self.requests = 0
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                recorder.connections.add(self.client_address[1])
                recorder.requests += 1
                body = ("<!doctype html><p>" + "Layanan informasi publik. " * 40 + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if header_bytes:
                    self.send_header("Set-Cookie", "sesi=" + "a" * header_bytes)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream(header_bytes=12_000)
    yield server
    server.close()


def serve(vhosts: Vhosts, app: str, port: int, instance: str = "ab12cd") -> str:
    """Write and load the vhost of `app` proxying to `port`; return its name once nginx serves it."""
    fqdn = f"{app}.contoh.go.id"
    vhosts.apply({app: vhosts.render(Site(app=app, fqdn=fqdn, port=port, instance=instance))})
    vhosts.wait_switched(fqdn, instance)
    return fqdn


def get(vhosts: Vhosts, fqdn: str, path: str = "/", **headers: str
        ) -> tuple[int, bytes, dict[str, str]]:
    host, _, port = vhosts.settings.probe.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers={"Host": fqdn, **headers})
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def test_requests_reuse_pooled_connections_to_the_app(vhosts: Vhosts, upstream: Upstream) -> None:
    fqdn = serve(vhosts, unique("kolam"), upstream.port)
    upstream.connections.clear()
    upstream.requests = 0
    for _ in range(20):
        status, _body, _headers = get(vhosts, fqdn)  # each on a new client connection
        assert status == 200
    assert upstream.requests == 20
    # One idle connection per nginx worker at most is opened and then reused; without the pool
    # nginx would have opened one per request.
    assert len(upstream.connections) <= 2


def test_text_is_gzipped_and_large_response_headers_fit(vhosts: Vhosts,
                                                         upstream: Upstream) -> None:
    fqdn = serve(vhosts, unique("ringkas"), upstream.port)
    status, body, headers = get(vhosts, fqdn, **{"Accept-Encoding": "gzip"})
    # A 12 KB cookie: with nginx's default 4 KiB header buffer this would be a 502.
    assert status == 200 and len(headers["set-cookie"]) > 12_000
    assert headers["content-encoding"] == "gzip" and "Accept-Encoding" in headers["vary"]
    assert gzip.decompress(body).startswith(b"<!doctype html>")
    status, body, headers = get(vhosts, fqdn)
    assert status == 200 and "content-encoding" not in headers and body.startswith(b"<!doctype")


def test_the_access_log_is_buffered_yet_reaches_the_file(vhosts: Vhosts, upstream: Upstream
                                                          ) -> None:
    app = unique("catat")
    fqdn = serve(vhosts, app, upstream.port)
    access, _error = vhosts.log_paths(app)
    get(vhosts, fqdn, "/?jejak=buffer")
    deadline = time.monotonic() + 15  # written within the flush interval, or at the next reload
    while not (access.exists() and "/?jejak=buffer" in access.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    line = next(x for x in access.read_text().splitlines() if "/?jejak=buffer" in x)
    assert '"GET /?jejak=buffer HTTP/1.1" 200' in line  # nginx's combined format, as before


def test_logs_are_rotated_by_size_and_nginx_writes_a_fresh_file(vhosts: Vhosts,
                                                               upstream: Upstream) -> None:
    app = unique("putar")
    fqdn = serve(vhosts, app, upstream.port)
    access, _error = vhosts.log_paths(app)
    first = rotated(access, 1)

    def logged(path: Path, marker: str) -> bool:
        return path.exists() and f"jejak={marker} " in path.read_text(errors="replace")

    def log_fresh(prefix: str) -> str:
        """Log requests until one lands in the current file; return its marker.

        nginx reopens its files asynchronously: a line may still go to the moved file first.
        """
        deadline = time.monotonic() + 30
        for attempt in itertools.count():
            marker = f"{prefix}{attempt}"
            get(vhosts, fqdn, f"/?jejak={marker}")
            while not (logged(access, marker) or logged(first, marker)):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            if logged(access, marker):
                return marker
        raise AssertionError("unreachable")

    try:
        before = log_fresh("awal")
        assert vhosts.rotate_logs([app], max_bytes=1 << 30) == []  # small logs stay
        assert vhosts.rotate_logs([app], max_bytes=1) == [access]  # the error log is empty
        assert logged(first, before)
        after = log_fresh("baru")  # nginx writes a new file
        assert not logged(first, after)

        assert vhosts.rotate_logs([app], max_bytes=1) == [access]
        assert f"jejak={before} " in gzip.decompress(rotated(access, 2).read_bytes()).decode()
        assert logged(first, after)  # the newest old log stays plain for the log page
        for _ in range(defaults.LOG_ROTATE_KEEP + 2):
            log_fresh("lagi")
            vhosts.rotate_logs([app], max_bytes=1)
        kept = {p for p in vhosts.log_files(app)
                if p.exists() and p != access and p.name.startswith(access.name)}
        assert kept == {rotated(access, n) for n in range(1, defaults.LOG_ROTATE_KEEP + 1)}
        assert not rotated(access, defaults.LOG_ROTATE_KEEP + 1).exists()
    finally:
        for path in vhosts.log_files(app):
            path.unlink(missing_ok=True)


def test_log_tail_reads_on_into_the_rotated_file(tmp_path: Path) -> None:
    current, old = tmp_path / "a.access.log", tmp_path / "a.access.log.1"
    old.write_text("satu\ndua\ntiga")  # cut off by the rotation, without its newline
    current.write_text("empat\nlima\n")
    assert tail_lines([old, current], 2) == "empat\nlima"
    assert tail_lines([old, current], 4) == "dua\ntiga\nempat\nlima"
    assert tail_lines([old, current], 100) == "satu\ndua\ntiga\nempat\nlima"
    assert tail_lines([tmp_path / "tidak-ada", current], 3) == "empat\nlima"
    assert tail_lines([old, current], 0) == ""


def test_the_operators_rules_are_included_and_a_broken_one_changes_nothing(
        vhosts: Vhosts, upstream: Upstream, testbed: dict[str, Any], tmp_path: Path) -> None:
    extra = tmp_path / "wadah-extra"
    ours = Vhosts(nginx_settings(testbed, extra_dir=extra), owner=vhosts.owner)
    app = unique("operator")
    fqdn = serve(ours, app, upstream.port)  # neither the directory nor the files exist yet
    (extra / "all").mkdir(parents=True)
    (extra / "all" / "kantor.conf").write_text('add_header X-Pusat-Data "contoh" always;\n')
    (extra / f"{app}.conf").write_text('location = /dilarang {\n    return 403;\n}\n')
    (extra / f"{app}.conf.bak").write_text("ini bukan konfigurasi nginx\n")  # never included
    ours.test()
    ours.reload()
    status, _body, headers = get(ours, fqdn)
    assert status == 200 and headers["x-pusat-data"] == "contoh"
    assert get(ours, fqdn, "/dilarang")[0] == 403

    before = ours.read(app)
    (extra / f"{app}.conf").write_text("location = /rusak {\n")  # unclosed: nginx -t refuses
    try:
        with pytest.raises(VhostError) as refused:
            ours.apply({app: ours.render(Site(app=app, fqdn=fqdn, port=upstream.port,
                                              instance="ef34ab"))})
        assert f"{app}.conf" in refused.value.output
        assert ours.read(app) == before
    finally:
        (extra / f"{app}.conf").unlink()
    ours.test()


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
    host: HostAgent = make_host(testbed, docker_client, mariadb_admin, tmp_path,
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
