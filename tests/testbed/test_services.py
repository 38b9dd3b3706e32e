"""Each service of the shared testbed answers the way Wadah will use it."""
from __future__ import annotations

import http.client
import io
import socket
import tarfile
import time
import uuid
from pathlib import Path

import clamd
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pymysql
import pytest
import sqlalchemy

from panel.testbed import SERVICES
from tests.support import unavailable

# The standard EICAR test file, which the project's test signature matches.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.mark.parametrize("name", [service.name for service in SERVICES])
def test_service_is_running(testbed, name):
    entry = testbed[name]
    assert entry["running"] is True
    assert entry["pid"] > 0
    assert Path(entry["log"]).is_file()


def test_docker_answers(docker_client):
    assert docker_client.ping() is True
    assert docker_client.version()["ApiVersion"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_docker_publishes_a_container_port_on_loopback(docker_client):
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        unavailable("needs a static /bin/busybox to build a probe image")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
    docker_client.api.import_image_from_data(archive.getvalue(), repository="wadah-testbed-probe",
                                             tag="latest")
    port = _free_port()
    container = docker_client.containers.run(
        "wadah-testbed-probe:latest", ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/bin"],
        detach=True, ports={"8080/tcp": ("127.0.0.1", port)}, read_only=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/")
                status = conn.getresponse().status
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert status == 404  # busybox httpd answered: no index in /bin
    finally:
        container.remove(force=True)


def test_nginx_default_server_returns_404(testbed):
    host, _, port = testbed["nginx"]["http"].rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/", headers={"Host": "nothing-here.contoh.go.id"})
    assert conn.getresponse().status == 404
    conn.close()
    assert Path(testbed["nginx"]["sites_dir"]).is_dir()


def test_clamd_detects_eicar_over_the_socket_and_tcp(testbed):
    host, _, port = testbed["clamd"]["tcp"].rpartition(":")
    for scanner in (clamd.ClamdUnixSocket(path=testbed["clamd"]["socket"]),
                    clamd.ClamdNetworkSocket(host=host, port=int(port))):
        assert scanner.ping() == "PONG"
        verdict, signature = scanner.instream(io.BytesIO(EICAR))["stream"]
        assert verdict == "FOUND"
        assert "EICAR" in signature
        assert scanner.instream(io.BytesIO(b"<?php echo 'halo';"))["stream"] == ("OK", None)


def _lookup_a(zone, name):
    query = dns.message.make_query(f"{name}.{zone['zone']}", dns.rdatatype.A)
    reply = dns.query.udp(query, zone["host"], port=zone["port"], timeout=5)
    return reply, [rr.address for rrset in reply.answer for rr in rrset]


def _update(zone, signed: bool) -> dns.update.UpdateMessage:
    if not signed:
        return dns.update.UpdateMessage(zone["zone"])
    keyring = dns.tsigkeyring.from_text({zone["key_name"]: zone["secret"]})
    return dns.update.UpdateMessage(zone["zone"], keyring=keyring, keyname=zone["key_name"],
                                    keyalgorithm=zone["algorithm"])


def test_named_serves_the_test_zone(dns_zone):
    reply, addresses = _lookup_a(dns_zone, "ns")
    assert reply.rcode() == dns.rcode.NOERROR
    assert addresses == ["127.0.0.1"]


def test_named_accepts_a_tsig_signed_update_and_refuses_an_unsigned_one(dns_zone):
    name = f"uji-{uuid.uuid4().hex[:10]}"

    unsigned = _update(dns_zone, signed=False)
    unsigned.replace(name, 60, "A", "127.0.0.66")
    reply = dns.query.tcp(unsigned, dns_zone["host"], port=dns_zone["port"], timeout=5)
    assert reply.rcode() == dns.rcode.REFUSED
    assert _lookup_a(dns_zone, name)[0].rcode() == dns.rcode.NXDOMAIN

    signed = _update(dns_zone, signed=True)
    signed.replace(name, 60, "A", "127.0.0.42")
    reply = dns.query.tcp(signed, dns_zone["host"], port=dns_zone["port"], timeout=5)
    assert reply.rcode() == dns.rcode.NOERROR
    try:
        assert _lookup_a(dns_zone, name)[1] == ["127.0.0.42"]
    finally:
        cleanup = _update(dns_zone, signed=True)
        cleanup.delete(name)
        dns.query.tcp(cleanup, dns_zone["host"], port=dns_zone["port"], timeout=5)


def test_mariadb_admin_creates_a_database_and_user_over_tcp(mariadb_admin):
    """The agent's administrator makes apps' databases and accounts, and nothing outside wadah_…"""
    suffix = uuid.uuid4().hex[:8]
    database = user = f"wadah_uji{suffix}"
    with pymysql.connect(**mariadb_admin, connect_timeout=5) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
        try:
            cursor.execute(f"CREATE DATABASE `{database}`")
            cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, "rahasia-uji-123"))
            cursor.execute(f"GRANT ALL PRIVILEGES ON `wadah\\_uji{suffix}`.* TO %s@'127.0.0.1'", (user,))
            with pymysql.connect(host=mariadb_admin["host"], port=mariadb_admin["port"], user=user,
                                 password="rahasia-uji-123", database=database) as app_conn:
                with app_conn.cursor() as app_cursor:
                    app_cursor.execute("SELECT DATABASE()")
                    assert app_cursor.fetchone() == (database,)
            for outside in (f"CREATE DATABASE `uji_{suffix}`", "SELECT user FROM mysql.user"):
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    cursor.execute(outside)
        finally:
            cursor.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")


def test_postgres_url_connects_with_sqlalchemy(postgres_url):
    assert postgres_url.startswith("postgresql+psycopg://wadah:")
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sqlalchemy.text("SELECT current_user, current_database()")).one()
        assert tuple(row) == ("wadah", "wadah_test")
    finally:
        engine.dispose()


def test_redis_answers_only_with_its_password(testbed, testbed_credentials):
    import redis

    host, _, port = testbed["redis"]["address"].rpartition(":")
    stranger = redis.Redis(host=host, port=int(port), socket_timeout=5)
    with pytest.raises(redis.exceptions.AuthenticationError):
        stranger.ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=host, port=int(port), password="salah", socket_timeout=5).ping()

    client = redis.Redis.from_url(testbed_credentials["redis"]["url"], socket_timeout=5)
    key = f"wadah-uji:{uuid.uuid4().hex}"
    try:
        assert client.set(key, "ada", ex=60) is True
        assert client.get(key) == b"ada"
        assert client.config_get("save") == {"save": ""}  # nothing persisted
        assert int(client.config_get("databases")["databases"]) == testbed["redis"]["databases"]
    finally:
        client.delete(key)
        client.close()
