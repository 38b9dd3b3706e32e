"""The agent's side of enrolment: the pinned CA, its own key, the endorsed release key, the command."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from agents import protocol
from agents.cli import agent as agent_command
from agents.credentials import AgentCredentials, make_csr, new_agent_key, verify_bundle
from panel.services.infra.ca import PanelCA
from panel.services.infra.enrolment import EnrolledAgent, Enrolments, SqliteEnrolmentTokens
from tests.agents.support import Agent, RecordingHost, stop_agent


@pytest.fixture
def ca(tmp_path: Path) -> PanelCA:
    return PanelCA.create(tmp_path / "panel-ca")


@pytest.fixture
def enrolments(ca: PanelCA) -> Enrolments:
    return Enrolments(ca, SqliteEnrolmentTokens(ca.directory / "tokens.sqlite3"))


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# --- what the agent accepts ----------------------------------------------------------------------


@pytest.fixture
def bundle_and_key(enrolments: Enrolments) -> tuple[protocol.EnrolmentBundle,
                                                        ec.EllipticCurvePrivateKey]:
    key = new_agent_key()
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    return enrolments.redeem(token, make_csr(key, "ch-01")).bundle, key


def test_the_agent_refuses_a_ca_other_than_the_pinned_one(bundle_and_key: Any,
                                                          tmp_path: Path) -> None:
    bundle, key = bundle_and_key
    other = PanelCA.create(tmp_path / "other")
    with pytest.raises(protocol.EnrolmentRefused, match="sidik jari"):
        verify_bundle(bundle, key, other.ca_sha256)


def test_the_agent_refuses_a_certificate_for_another_key(bundle_and_key: Any,
                                                        ca: PanelCA) -> None:
    bundle, _ = bundle_and_key
    with pytest.raises(protocol.EnrolmentRefused, match="kunci agen"):
        verify_bundle(bundle, new_agent_key(), ca.ca_sha256)


def test_the_agent_refuses_a_release_key_the_ca_did_not_endorse(bundle_and_key: Any,
                                                                ca: PanelCA,
                                                                tmp_path: Path) -> None:
    bundle, key = bundle_and_key
    impostor = PanelCA.create(tmp_path / "impostor")
    swapped = protocol.EnrolmentBundle(
        **{**bundle.to_dict(), "release_signing_key": impostor.release_signing_public_pem})
    with pytest.raises(protocol.EnrolmentRefused, match="tidak disahkan"):
        verify_bundle(swapped, key, ca.ca_sha256)


def test_the_pin_may_be_written_with_colons(bundle_and_key: Any, ca: PanelCA) -> None:
    bundle, key = bundle_and_key
    verify_bundle(bundle, key, ":".join(ca.ca_sha256[i:i + 2].upper()
                                           for i in range(0, 64, 2)))


# --- `wadah agent enroll` against a panel over HTTPS ---------------------------------------------


class FakePanel:
    """The panel's enrol route, reduced to what it must do: call `Enrolments.redeem_request`."""

    def __init__(self, enrolments: Enrolments, tmp: Path) -> None:
        self.enrolments = enrolments
        # The panel's web certificate comes from elsewhere (here: another throwaway CA).
        web_ca = PanelCA.create(tmp / "web-ca")
        key = new_agent_key()
        cert = web_ca.issue_agent_certificate(make_csr(key, "panel"), "panel", ["127.0.0.1"])
        (tmp / "web.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp / "web.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.ca_bundle = web_ca.ca_cert_path
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self, threaded=True,
            ssl_context=(str(tmp / "web.crt"), str(tmp / "web.key")))
        self.url = f"https://127.0.0.1:{self.server.port}"
        self.enrolled: list[EnrolledAgent] = []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path != protocol.ENROLL_PATH or request.method != "POST":
            return Response("{}", status=404)(environ, start_response)
        try:
            enrolled = self.enrolments.redeem_request(request.get_json(silent=True))
        except protocol.EnrolmentRefused as refused:
            body = {"error": {"code": refused.code, "message": refused.message}}
            return Response(json.dumps(body), status=403,
                            mimetype="application/json")(environ, start_response)
        self.enrolled.append(enrolled)
        return Response(json.dumps(enrolled.bundle.to_dict()),
                        mimetype="application/json")(environ, start_response)


@pytest.fixture
def panel(enrolments: Enrolments, tmp_path: Path) -> Iterator[FakePanel]:
    fake = FakePanel(enrolments, tmp_path)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def enroll(panel: FakePanel, state: Path, token: str, pin: str, *extra: str) -> Any:
    return CliRunner().invoke(agent_command, [
        "enroll", "--panel", panel.url, "--token", token, "--ca-sha256", pin,
        "--panel-ca", str(panel.ca_bundle), "--state-dir", str(state), *extra])


def test_enroll_command_end_to_end(panel: FakePanel, enrolments: Enrolments,
                                   ca: PanelCA, tmp_path: Path) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    command = enrolments.enroll_command(panel.url, token)
    assert command.startswith("wadah agent enroll --panel https://") and ca.ca_sha256 in command
    state = tmp_path / "agent-state"
    result = enroll(panel, state, token, ca.ca_sha256)
    assert result.exit_code == 0, result.output
    assert "ch-01" in result.output

    tls = state / "tls"
    assert mode(tls) == 0o700
    assert sorted(p.name for p in tls.iterdir()) == [
        "agent.crt", "agent.key", "ca.crt", "identity.json", "release-signing.pub"]
    assert {mode(p) for p in tls.iterdir()} == {0o600}
    identity = json.loads((tls / "identity.json").read_text())
    assert identity["agent_name"] == "ch-01"
    assert identity["certificate_sha256"] == panel.enrolled[0].fingerprint
    shown = CliRunner().invoke(agent_command, ["identity", "--state-dir", str(state)])
    assert shown.exit_code == 0 and "ch-01" in shown.output

    # Enrolled: the panel can now call it with its client certificate.
    running = start_agent_from(state, ca)
    try:
        with running.client(agent_name="ch-01") as client:
            assert client.ping()["agent"] == "ch-01"
    finally:
        stop_agent(running)

    again = enroll(panel, state, token, ca.ca_sha256)
    assert again.exit_code != 0 and "already_enrolled" in again.output
    reused = enroll(panel, state, token, ca.ca_sha256, "--force")
    assert reused.exit_code != 0 and "token_used" in reused.output
    assert json.loads((tls / "identity.json").read_text()) == identity  # untouched


def start_agent_from(state: Path, ca: PanelCA) -> Agent:
    from agents.api import AgentAPI, NonceLedger
    from agents.daemon import build_api_server
    from agents.protocol.artifacts import ArtifactStore

    credentials = AgentCredentials(state)
    store = ArtifactStore(state / "artifacts")
    host = RecordingHost()
    api = AgentAPI(host, store, NonceLedger(state / "nonces.sqlite3"), credentials.agent_name,
                   credentials.release_public_key())
    server = build_api_server(api, "127.0.0.1:0", credentials.server_context())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Agent(ca, credentials, host, store, api, server, state)


def test_enroll_refuses_a_panel_whose_ca_is_not_the_pinned_one(
        panel: FakePanel, enrolments: Enrolments, tmp_path: Path) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    wrong_pin = PanelCA.create(tmp_path / "elsewhere").ca_sha256
    state = tmp_path / "agent-state"
    result = enroll(panel, state, token, wrong_pin)
    assert result.exit_code != 0 and "bad_bundle" in result.output
    assert not (state / "tls").exists()


@pytest.mark.parametrize(("token_of", "code"), [
    (lambda e: "wdh1.0123456789abcdef." + "A" * 43, "token_invalid"),
    (lambda e: e.issue_token("ch-01", ["127.0.0.1"], ttl_s=-1), "token_expired"),
])
def test_enroll_reports_a_refused_token(panel: FakePanel, enrolments: Enrolments,
                                        ca: PanelCA, tmp_path: Path, token_of: Any,
                                        code: str) -> None:
    state = tmp_path / "agent-state"
    result = enroll(panel, state, token_of(enrolments), ca.ca_sha256)
    assert result.exit_code != 0 and code in result.output
    assert not (state / "tls").exists()


def test_enroll_needs_https(ca: PanelCA, tmp_path: Path) -> None:
    # Refused before anything is sent: the address is never contacted.
    result = CliRunner().invoke(agent_command, [
        "enroll", "--panel", "http://panel.test:9", "--token", "t", "--ca-sha256", ca.ca_sha256,
        "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "insecure_panel_url" in result.output


def test_enroll_over_plain_http_only_on_loopback(ca: PanelCA, tmp_path: Path) -> None:
    # The embedded one-machine setup enrols its local agent over loopback HTTP.
    result = CliRunner().invoke(agent_command, [
        "enroll", "--panel", "http://127.0.0.1:9", "--token", "t", "--ca-sha256", ca.ca_sha256,
        "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "panel_unreachable" in result.output


def test_enroll_reports_an_unreachable_panel(ca: PanelCA, tmp_path: Path) -> None:
    result = CliRunner().invoke(agent_command, [
        "enroll", "--panel", "https://127.0.0.1:9", "--token", "t", "--ca-sha256", ca.ca_sha256,
        "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "panel_unreachable" in result.output


def test_run_refuses_to_start_unenrolled(tmp_path: Path) -> None:
    result = CliRunner().invoke(agent_command, ["run", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "belum terdaftar" in result.output

