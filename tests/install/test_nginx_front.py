"""The shipped nginx front (deploy/nginx/wadah-panel.conf) before a real `wadah web`.

The real nginx runs the shipped server blocks with only its addresses, certificate and upstream
changed. A client reaching the panel through it is counted by the sign-in throttle under its own
address, whatever X-Forwarded-For it sends; a client reaching the panel directly, not from a
trusted proxy network, is counted under its own address too, never under the one it forges.
"""
from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from panel import config as configuration
from panel.services.accounts.login_throttle import client_key
from tests.panel.agent import free_port
from tests.support import unavailable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "nginx" / "wadah-panel.conf"
FRONT = "127.0.0.61"  # where the test's nginx listens
VIA_NGINX = "127.0.0.62"  # a browser reaching the panel through nginx
DIRECT = "127.0.0.63"  # a client reaching the panel's port itself, not a trusted proxy
FORGED = ("203.0.113.77", "198.51.100.78")
START_WAIT_S = 60
HSTS = "max-age=31536000; includeSubDomains"
SIZE = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def _shipped(directive: str) -> list[str]:
    return re.findall(rf'^\s*{directive}\s+((?:"[^"]*"|[^;"])+);', SHIPPED.read_text(), re.MULTILINE)


def test_the_upload_limit_is_the_panels() -> None:
    (limit,) = _shipped("client_max_body_size")
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", limit.lower()).groups()  # type: ignore[union-attr]
    config = configuration.defaults(ROOT)
    # A bundle of BUNDLE_MAX_BYTES travels with its letters: the front admits the whole request.
    assert int(number) * SIZE.get(unit, 1) == config["MAX_CONTENT_LENGTH"] >= config["BUNDLE_MAX_BYTES"]


def test_hsts_and_the_proxy_headers_are_set() -> None:
    assert _shipped("add_header") == [f'Strict-Transport-Security "{HSTS}" always']
    headers = dict(value.split(None, 1) for value in _shipped("proxy_set_header"))
    assert headers["X-Forwarded-For"] == "$remote_addr"  # replaced, never appended to
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["Forwarded"] == headers["X-Forwarded-Host"] == '""'


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "panel.contoh.go.id")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(FRONT))]),
                           critical=False)

            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "panel.crt", directory / "panel.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _site(prefix: Path, http_port: int, https_port: int, web_port: int) -> str:
    """Return the shipped server blocks with only addresses, certificate and upstream changed."""
    cert, key = _certificate(prefix)
    text = SHIPPED.read_text()
    for old, new in (("listen 80;", f"listen {FRONT}:{http_port};"),
                     ("listen 443 ssl http2;", f"listen {FRONT}:{https_port} ssl http2;"),
                     ("/etc/ssl/wadah/panel.crt", str(cert)), ("/etc/ssl/wadah/panel.key", str(key)),
                     ("proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{web_port};")):
        assert text.count(old) == 1, old  # the shipped file still has the shape this test edits
        text = text.replace(old, new)
    # IPv6 wildcard listeners would need the real ports; the IPv4 ones above stand for them.
    return "\n".join(line for line in text.splitlines() if "listen [::]" not in line) + "\n"


NGINX_CONF = """\
daemon off;
{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    include {prefix}/wadah-panel.conf;
}}
"""


@contextmanager
def _process(argv: list[str], log: Path, ready: Any, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   **kwargs)
    try:
        deadline = time.monotonic() + START_WAIT_S
        while not ready():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(host: str, port: int) -> Any:
    def probe() -> bool:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    return probe


class _From(HTTPAdapter):
    """Connect from a chosen loopback address, as a distinct client would."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def _client(source: str, cert: Path | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy and no CA bundle from the environment
    session.mount("http://", _From(source))
    session.mount("https://", _From(source))
    session.verify = str(cert) if cert else True
    return session


def _failed_sign_in(session: requests.Session, base: str, headers: dict[str, str]) -> int:
    page = session.get(f"{base}/login", headers=headers, timeout=15).text
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, page
    answer = session.post(f"{base}/login", timeout=15, headers={**headers, "Referer": f"{base}/login"},
                          data={"username": "tidak-ada", "password": "kata-sandi-salah-xyz",
                                "csrf_token": match.group(1)}, allow_redirects=False)
    return answer.status_code


def _throttled_addresses(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute("SELECT address FROM login_throttles WHERE address != ''")
        return {address for (address,) in rows}


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run `wadah web` (from this checkout) on loopback and the shipped nginx site before it."""
    tmp_path = tmp_path_factory.mktemp("front")
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        unavailable("nginx is missing (scripts/bootstrap installs nginx-light)")
    state = tmp_path / "state"
    configuration.write_instance_file(state / "panel", {
        # The direct client speaks plain HTTP to the panel's port: its cookies must travel there too.
        "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False})
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "WADAH_STATE_DIR": str(state)}
    subprocess.run([sys.executable, "-m", "panel.cli", "db", "upgrade"], env=env, cwd=tmp_path, check=True,
                   capture_output=True, timeout=300)
    web_port, http_port, https_port = free_port(), free_port(), free_port()
    prefix = tmp_path / "nginx"
    (prefix / "temp").mkdir(parents=True)
    (prefix / "wadah-panel.conf").write_text(_site(prefix, http_port, https_port, web_port))
    # As root the workers stay root here: they write the temp folders of this private prefix.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(NGINX_CONF.format(user=user, prefix=prefix))
    web = [sys.executable, "-m", "panel.cli", "web", "--bind", f"127.0.0.1:{web_port}", "--workers", "1"]
    proxy = [nginx, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    with _process(web, tmp_path / "web.log", _listening("127.0.0.1", web_port), env=env, cwd=tmp_path), \
            _process(proxy, tmp_path / "nginx.log", _listening(FRONT, https_port)):
        yield {"https": f"https://{FRONT}:{https_port}", "http": f"http://{FRONT}:{http_port}",
               "direct": f"http://127.0.0.1:{web_port}", "cert": prefix / "panel.crt",
               "database": state / "panel" / "wadah.db", "https_port": https_port}


@pytest.fixture()
def front(serving: dict[str, Any]) -> dict[str, Any]:
    """Return the running front with no sign-in failure counted yet."""
    with closing(sqlite3.connect(serving["database"])) as connection, connection:
        connection.execute("DELETE FROM login_throttles")
    return serving


def test_through_nginx_the_panel_sees_the_clients_address(front: dict[str, Any]) -> None:
    browser = _client(VIA_NGINX, front["cert"])
    # What the client claims is replaced by nginx with the address it connected from.
    assert _failed_sign_in(browser, front["https"], {"X-Forwarded-For": FORGED[0]}) == 401
    assert _throttled_addresses(front["database"]) == {client_key(VIA_NGINX)}
    page = browser.get(f"{front['https']}/login", timeout=15)
    assert page.headers["Strict-Transport-Security"] == HSTS
    # Plain HTTP is sent to HTTPS.
    moved = browser.get(f"{front['http']}/login", allow_redirects=False, timeout=15)
    assert moved.status_code == 301 and moved.headers["Location"].startswith("https://")


def test_a_direct_client_cannot_forge_its_address(front: dict[str, Any]) -> None:
    stranger = _client(DIRECT)
    assert _failed_sign_in(stranger, front["direct"], {"X-Forwarded-For": FORGED[1]}) == 401
    # Counted under the address it connected from; the forged one is nowhere.
    assert _throttled_addresses(front["database"]) == {client_key(DIRECT)}


def test_a_body_over_the_limit_is_refused_by_nginx(front: dict[str, Any]) -> None:
    # Content-Length alone is enough for nginx to refuse: no byte of the body is sent.
    context = ssl.create_default_context(cafile=str(front["cert"]))
    connection = http.client.HTTPSConnection(FRONT, front["https_port"], timeout=15, context=context,
                                             source_address=(VIA_NGINX, 0))
    try:
        connection.putrequest("POST", "/login")
        connection.putheader("Content-Length", str(configuration.defaults(ROOT)["MAX_CONTENT_LENGTH"] + 1))
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 413
        assert answer.getheader("Strict-Transport-Security") == HSTS
    finally:
        connection.close()
    assert _throttled_addresses(front["database"]) == set()
