"""The panel ↔ agent channel: mutual TLS, signed requests, freshness, replay, malformed input.

Every test talks real TLS to an agent API server on 127.0.0.1 with certificates from a CA made in a
temporary directory; the host behind the API is a recorder, so "no side effect" can be asserted.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agents import protocol
from agents.api import AgentAPI, NonceLedger
from agents.credentials import AgentCredentials
from agents.daemon import build_api_server
from agents.protocol import certificates
from agents.protocol.artifacts import ArtifactStore
from panel.services.infra.agent_client import AgentRefused, AgentUnavailable
from panel.services.infra.ca import PanelCA
from tests.agents.support import (
    AGENT,
    Agent,
    RecordingHost,
    error_of,
    issue_agent,
    refused,
    start_agent,
    stop_agent,
)

# --- a good request ------------------------------------------------------------------------------


def test_a_signed_request_from_the_panel_works(agent: Agent) -> None:
    with agent.client() as client:
        assert client.ping()["agent"] == AGENT
        assert client.facts() == {"hostname": "test-host", "apps": []}
    assert agent.host.calls == [("facts",)]


def test_query_strings_are_signed_too(agent: Agent) -> None:
    with agent.client() as client:
        assert client.logs("portal", tail=5, since=1700000000) == "line\n"
    assert agent.host.calls == [("logs", "portal", 5, 1700000000, "app")]
    response = agent.send("GET", "/v1/apps/portal/logs?tail=9999",
                          signed_target="/v1/apps/portal/logs?tail=5")
    assert error_of(response) == (401, "bad_signature")


# --- who may call --------------------------------------------------------------------------------


def test_no_client_certificate_is_refused_at_tls(agent: Agent) -> None:
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(agent.url + "/v1/facts", verify=str(agent.ca.ca_cert_path), timeout=5)
    context = ssl.create_default_context(cafile=str(agent.ca.ca_cert_path))
    with socket.create_connection(("127.0.0.1", agent.server.port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /v1/facts HTTP/1.1\r\nHost: x\r\n\r\n")
                assert tls.recv(100) == b""  # TLS 1.3: the alert arrives on the first read
    assert agent.host.calls == []


def test_a_certificate_from_another_ca_is_refused(agent: Agent, tmp_path: Path) -> None:
    stranger = PanelCA.create(tmp_path / "stranger-ca")  # a perfect panel cert, wrong CA
    with agent.client(client_cert=stranger.client_cert_path,
                      client_key=stranger.client_key_path) as client:
        with pytest.raises(AgentUnavailable):
            client.facts()
    assert agent.host.calls == []


def test_another_agents_certificate_is_refused(agent: Agent, tmp_path: Path) -> None:
    # An agent's certificate is for serving (serverAuth only): TLS refuses it as a client cert.
    other = issue_agent(agent.ca, tmp_path / "other-agent", name="agent-2")
    with agent.client(client_cert=other.cert_path, client_key=other.key_path) as client:
        with pytest.raises(AgentUnavailable):  # "unsuitable certificate purpose"
            client.facts()
    assert agent.host.calls == []


def _client_cert(ca: PanelCA, directory: Path, common_name: str,
                 role: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wadah"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca.ca_key.public_key()), critical=False)
            .sign(ca.ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "client.crt", directory / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_client_certificate_of_the_same_ca_without_the_panel_role_is_refused(
        agent: Agent, tmp_path: Path) -> None:
    # Passes TLS (same CA, clientAuth) but is not the panel's: the API refuses it by its role.
    cert, key = _client_cert(agent.ca, tmp_path / "agent-as-client", AGENT, certificates.ROLE_AGENT)
    with agent.client(client_cert=cert, client_key=key) as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.facts()
    assert refused(excinfo) == (403, "forbidden")
    assert agent.host.calls == []


# --- signed, fresh, once -------------------------------------------------------------------------


def test_an_unsigned_request_is_refused(agent: Agent) -> None:
    assert error_of(agent.send("GET", "/v1/facts", sign=False)) == (401, "unsigned_request")
    assert agent.host.calls == []


def test_a_replayed_request_is_refused(agent: Agent) -> None:
    with agent.client() as client:
        headers = client.signed_headers("GET", "/v1/facts", protocol.EMPTY_SHA256)
    first = agent.send("GET", "/v1/facts", headers=headers, sign=False)
    assert first.status_code == 200
    second = agent.send("GET", "/v1/facts", headers=headers, sign=False)
    assert error_of(second) == (401, "replayed_request")
    assert agent.host.calls == [("facts",)]


def test_a_stale_request_is_refused(agent: Agent) -> None:
    with agent.client(clock=lambda: time.time() - protocol.MAX_SKEW_S - 30) as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.facts()
    assert refused(excinfo) == (401, "stale_request")
    assert "agent_time" in excinfo.value.details
    assert agent.host.calls == []


def test_a_future_dated_request_is_refused(agent: Agent) -> None:
    with agent.client(clock=lambda: time.time() + protocol.MAX_SKEW_S + 30) as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.facts()
    assert refused(excinfo) == (401, "future_request")
    assert agent.host.calls == []


def test_a_little_clock_skew_is_tolerated(agent: Agent) -> None:
    with agent.client(clock=lambda: time.time() - 60) as client:
        client.facts()
    with agent.client(clock=lambda: time.time() + 60) as client:
        client.facts()


def test_a_tampered_body_is_refused(agent: Agent) -> None:
    signed = json.dumps({"env": {"APP_ENV": "production"}}).encode()
    tampered = json.dumps({"env": {"APP_ENV": "production", "PHP_VALUE": "auto_prepend"}}).encode()
    response = agent.send("PUT", "/v1/apps/portal/env", tampered, signed_body=signed)
    assert error_of(response) == (401, "content_mismatch")
    assert agent.host.calls == []


def test_a_request_redirected_to_another_path_is_refused(agent: Agent) -> None:
    response = agent.send("POST", "/v1/apps/portal/stop", signed_target="/v1/apps/other/stop")
    assert error_of(response) == (401, "bad_signature")
    assert agent.host.calls == []


def test_a_request_signed_for_another_agent_is_refused(agent: Agent) -> None:
    with agent.client(agent_name="agent-2") as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.facts()
    assert refused(excinfo) == (401, "bad_signature")
    assert agent.host.calls == []


def test_nonces_survive_a_restart(tmp_path: Path) -> None:
    first = start_agent(tmp_path)
    with first.client() as client:
        headers = client.signed_headers("GET", "/v1/facts", protocol.EMPTY_SHA256)
    assert first.send("GET", "/v1/facts", headers=headers, sign=False).status_code == 200
    stop_agent(first)

    # The same state dir and CA, a new process: the nonce is still known.
    state = tmp_path / "agent-state"
    credentials = AgentCredentials(state)
    host = RecordingHost()
    api = AgentAPI(host, ArtifactStore(state / "artifacts"), NonceLedger(state / "nonces.sqlite3"),
                   credentials.agent_name, credentials.release_public_key())
    server = build_api_server(api, "127.0.0.1:0", credentials.server_context())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        second = Agent(first.ca, credentials, host, api.store, api, server, tmp_path)
        assert error_of(second.send("GET", "/v1/facts", headers=headers, sign=False)) == (
            401, "replayed_request")
        assert host.calls == []
    finally:
        stop_agent(Agent(first.ca, credentials, host, api.store, api, server, tmp_path))


def test_the_nonce_ledger_forgets_only_expired_nonces(tmp_path: Path) -> None:
    ledger = NonceLedger(tmp_path / "n.sqlite3")
    assert ledger.remember("a" * 32, expires_at=100)
    assert ledger.remember("b" * 32, expires_at=300)
    assert not ledger.remember("a" * 32, expires_at=100)
    assert ledger.prune(now=200) == 1
    assert not ledger.remember("b" * 32, expires_at=300)
    assert (tmp_path / "n.sqlite3").stat().st_mode & 0o777 == 0o600
    ledger.close()


# --- malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "malformed_request"),
    (b"\xff\xfe", "malformed_request"),
    (b"[]", "malformed_request"),
    (b'{"env": {"APP_ENV": 1}}', "malformed_request"),
    (b'{"env": ["APP_ENV"]}', "malformed_request"),
    (b'{"env": {}, "extra": true}', "malformed_request"),
    (b"{}", "malformed_request"),
    (b'{"env": {}, "env": {"X": "1"}}', "malformed_request"),
    (b'{"env": {"X": NaN}}', "malformed_request"),
    (b'{"env": {"lower-case": "x"}}', "invalid_name"),
    (b'{"env": {"X; rm -rf /": "x"}}', "invalid_name"),
])
def test_malformed_bodies_are_refused_without_side_effect(agent: Agent, body: bytes,
                                                          code: str) -> None:
    assert error_of(agent.send("PUT", "/v1/apps/portal/env", body)) == (400, code)
    assert agent.host.calls == []


@pytest.mark.parametrize("name", ["Portal", "a", "por_tal", "-portal", "x" * 41, "a--b"])
def test_invalid_app_names_are_refused(agent: Agent, name: str) -> None:
    assert error_of(agent.send("POST", f"/v1/apps/{name}/stop")) == (400, "invalid_name")
    assert agent.host.calls == []


def test_a_body_where_none_belongs_is_refused(agent: Agent) -> None:
    assert error_of(agent.send("POST", "/v1/apps/portal/stop", b'{"x": 1}')) == (
        400, "unexpected_body")
    assert agent.host.calls == []


def test_a_json_body_must_say_it_is_json(agent: Agent) -> None:
    response = agent.send("PUT", "/v1/apps/portal/env", b'{"env": {}}', content_type="text/plain")
    assert error_of(response) == (415, "unsupported_media_type")
    assert agent.host.calls == []


def test_an_oversized_body_is_refused(tmp_path: Path) -> None:
    small = start_agent(tmp_path, max_json_bytes=1024)
    try:
        body = json.dumps({"env": {"X": "y" * 4096}}).encode()
        assert error_of(small.send("PUT", "/v1/apps/portal/env", body)) == (413, "too_large")
        assert small.host.calls == []
    finally:
        stop_agent(small)


def test_unknown_routes_and_methods(agent: Agent) -> None:
    assert error_of(agent.send("GET", "/v1/nothing")) == (404, "not_found")
    assert error_of(agent.send("GET", "/v2/facts")) == (404, "not_found")
    assert error_of(agent.send("DELETE", "/v1/facts")) == (405, "method_not_allowed")
    assert agent.host.calls == []


def test_unauthenticated_callers_learn_nothing_about_routes(agent: Agent) -> None:
    # Authentication comes before routing: an unsigned probe sees the same answer everywhere.
    for target in ("/v1/nothing", "/v1/facts", "/v1/apps/portal/stop"):
        assert error_of(agent.send("GET", target, sign=False)) == (401, "unsigned_request")


def test_a_host_error_keeps_the_error_shape(agent: Agent) -> None:
    from agents.errors import AppBusy

    agent.host.fail = AppBusy("aplikasi portal sedang diproses")
    with agent.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.stop("portal")
    assert refused(excinfo) == (409, "app_busy")
    assert excinfo.value.message == "aplikasi portal sedang diproses"


def test_an_unexpected_error_says_nothing_of_its_insides(agent: Agent) -> None:
    agent.host.fail = RuntimeError("/etc/secret at line 3")
    with agent.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.stop("portal")
    assert refused(excinfo) == (500, "internal_error")
    assert "secret" not in excinfo.value.message


def test_a_silent_connection_holds_up_nobody(agent: Agent) -> None:
    # Connect and say nothing: the handshake happens in that connection's thread, with a timeout.
    with socket.create_connection(("127.0.0.1", agent.server.port)):
        with agent.client() as client:
            assert client.ping()["agent"] == AGENT


def test_a_request_path_cannot_forge_log_lines(agent: Agent,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="agents.api"):
        agent.send("GET", "/v1/apps/x%0A2026-01-01%20INFO%20forged/stop", sign=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "agents.api"]
    assert lines and all("\n" not in line for line in lines)


# --- the files a build made ----------------------------------------------------------------------


def test_a_build_output_is_served_only_to_the_signed_panel(agent: Agent) -> None:
    (agent.host.state / "portal-3.tar").write_bytes(b"tar of the build's own files")
    target = "/v1/apps/portal/builds/3/output"
    assert error_of(agent.send("GET", target, sign=False)) == (401, "unsigned_request")
    redirected = agent.send("GET", target, signed_target="/v1/apps/portal/builds/4/output")
    assert error_of(redirected) == (401, "bad_signature")
    assert agent.host.calls == []
    response = agent.send("GET", target)
    assert response.status_code == 200 and response.content == b"tar of the build's own files"
    assert response.headers["Content-Type"] == "application/x-tar"
    assert agent.host.calls == [("build_output", "portal", 3)]


@pytest.mark.parametrize("target", ["/v1/apps/portal/builds/0/output",
                                    "/v1/apps/portal/builds/-1/output",
                                    "/v1/apps/portal/builds/3a/output",
                                    "/v1/apps/portal/builds/99999999999/output",
                                    "/v1/apps/portal/builds/3/output/x"])
def test_build_addresses_take_a_release_number_only(agent: Agent, target: str) -> None:
    assert error_of(agent.send("GET", target))[0] in (400, 404)
    assert agent.host.calls == []


def test_a_downloaded_build_output_must_have_the_bytes_reported(agent: Agent,
                                                                tmp_path: Path) -> None:
    data = b"tar of the build's own files"
    (agent.host.state / "portal-3.tar").write_bytes(data)
    with agent.client() as client:
        wanted = tmp_path / "output.tar"
        assert client.build_output("portal", 3, wanted, hashlib.sha256(data).hexdigest(),
                                   max_bytes=1024) == len(data)
        assert wanted.read_bytes() == data
        other = tmp_path / "other.tar"
        with pytest.raises(AgentRefused) as excinfo:
            client.build_output("portal", 3, other, hashlib.sha256(b"x").hexdigest(), 1024)
        assert refused(excinfo) == (502, "checksum_mismatch") and not other.exists()
        with pytest.raises(AgentRefused) as excinfo:
            client.build_output("portal", 3, other, hashlib.sha256(data).hexdigest(), 8)
        assert refused(excinfo) == (413, "too_large") and not other.exists()
        with pytest.raises(AgentRefused) as excinfo:
            client.build_output("portal", 4, other, hashlib.sha256(data).hexdigest(), 1024)
        assert refused(excinfo) == (404, "unknown_build") and not other.exists()
