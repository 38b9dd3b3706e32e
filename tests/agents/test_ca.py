"""The panel's CA and agent enrolment: one-time tokens, CSRs, the pinned CA, files kept private."""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from agents import pki, protocol
from agents.cli import agent as agent_command
from tests.agents.support import Agent, RecordingHost, stop_agent


@pytest.fixture
def ca(tmp_path: Path) -> pki.PanelCA:
    return pki.PanelCA.create(tmp_path / "panel-ca")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def enrolments(ca: pki.PanelCA, clock: Clock) -> pki.Enrolments:
    return pki.Enrolments(ca, pki.SqliteEnrolmentTokens(ca.directory / "tokens.sqlite3"), clock)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# --- the CA --------------------------------------------------------------------------------------


def test_the_ca_keeps_its_files_private(ca: pki.PanelCA) -> None:
    assert mode(ca.directory) == 0o700
    names = sorted(p.name for p in ca.directory.iterdir())
    assert names == ["ca.crt", "ca.key", "panel.crt", "panel.key", "release-signing.key"]
    assert {mode(p) for p in ca.directory.iterdir()} == {0o600}


def test_loose_ca_files_are_tightened_when_the_ca_is_loaded(ca: pki.PanelCA) -> None:
    ca.directory.chmod(0o755)
    for path in ca.directory.iterdir():
        path.chmod(0o644)
    pki.PanelCA.load_or_create(ca.directory)
    assert mode(ca.directory) == 0o700 and {mode(p) for p in ca.directory.iterdir()} == {0o600}


def test_the_token_ledger_is_owner_only(enrolments: pki.Enrolments, ca: pki.PanelCA) -> None:
    before = os.umask(0o022)
    try:
        enrolments.issue_token("ch-01", ["127.0.0.1"])
        ledger = ca.directory / "tokens.sqlite3"
        assert mode(ledger) == 0o600
        ledger.chmod(0o644)  # as an older panel left it
        enrolments.issue_token("ch-02", ["127.0.0.1"])
        assert mode(ledger) == 0o600
    finally:
        os.umask(before)


def test_certificates_carry_their_roles(ca: pki.PanelCA, tmp_path: Path) -> None:
    constraints = ca.ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    panel = x509.load_pem_x509_certificate(ca.client_cert_path.read_bytes())
    assert pki.is_panel_certificate(panel)
    panel.verify_directly_issued_by(ca.ca_cert)
    key = pki.new_agent_key()
    agent_cert = ca.issue_agent_certificate(pki.make_csr(key, "x"), "ch-01", ["127.0.0.1"])
    assert not pki.is_panel_certificate(agent_cert)
    usages = agent_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_the_ca_is_made_once_and_loaded_after(ca: pki.PanelCA) -> None:
    with pytest.raises(FileExistsError):
        pki.PanelCA.create(ca.directory)
    again = pki.PanelCA.load(ca.directory)
    assert again.ca_sha256 == ca.ca_sha256
    assert again.release_signing_public_pem == ca.release_signing_public_pem
    assert pki.PanelCA.load_or_create(ca.directory).ca_sha256 == ca.ca_sha256


def test_ca_keys_can_be_encrypted(tmp_path: Path) -> None:
    ca = pki.PanelCA.create(tmp_path / "ca", passphrase=b"kata sandi panjang sekali")
    assert b"ENCRYPTED" in (ca.directory / "ca.key").read_bytes()
    with pytest.raises((TypeError, ValueError)):
        pki.PanelCA.load(ca.directory)
    assert pki.PanelCA.load(ca.directory, b"kata sandi panjang sekali").ca_sha256 == ca.ca_sha256


# --- tokens --------------------------------------------------------------------------------------


def test_a_token_enrols_an_agent_once(enrolments: pki.Enrolments, ca: pki.PanelCA) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1", "ch-01.dc.contoh.go.id"])
    key = pki.new_agent_key()
    enrolled = enrolments.redeem(token, pki.make_csr(key, "ch-01"))
    assert enrolled.agent_name == "ch-01" and len(enrolled.fingerprint) == 95
    pki.verify_bundle(enrolled.bundle, key, ca.ca_sha256)
    with pytest.raises(pki.EnrolmentRefused) as excinfo:
        enrolments.redeem(token, pki.make_csr(pki.new_agent_key(), "ch-01"))
    assert excinfo.value.code == "token_used"


def test_tokens_are_stored_hashed(enrolments: pki.Enrolments, ca: pki.PanelCA) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    secret = token.rsplit(".", 1)[1]
    assert secret.encode() not in (ca.directory / "tokens.sqlite3").read_bytes()


def test_an_expired_token_is_refused(enrolments: pki.Enrolments, clock: Clock) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"], ttl_s=60)
    clock.now += 61
    with pytest.raises(pki.EnrolmentRefused) as excinfo:
        enrolments.redeem(token, pki.make_csr(pki.new_agent_key(), "ch-01"))
    assert excinfo.value.code == "token_expired"


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
    lambda t: t.replace(t.split(".")[1], "0" * 16),  # unknown id
    lambda t: "wdh1.garbage",
    lambda t: "",
])
def test_a_wrong_token_is_refused(enrolments: pki.Enrolments, mangle: Any) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    with pytest.raises(pki.EnrolmentRefused) as excinfo:
        enrolments.redeem(mangle(token), pki.make_csr(pki.new_agent_key(), "ch-01"))
    assert excinfo.value.code == "token_invalid"


def test_a_bad_csr_does_not_spend_the_token(enrolments: pki.Enrolments) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ch-01")]))
               .sign(rsa_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    for csr in ("not a csr", rsa_csr):
        with pytest.raises(pki.EnrolmentRefused) as excinfo:
            enrolments.redeem(token, csr)
        assert excinfo.value.code == "bad_csr"
    enrolments.redeem(token, pki.make_csr(pki.new_agent_key(), "ch-01"))


def test_the_certificate_names_what_the_panel_decided(enrolments: pki.Enrolments) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    key = pki.new_agent_key()
    greedy = (x509.CertificateSigningRequestBuilder()
              .subject_name(x509.Name([
                  x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, pki.ROLE_PANEL),
                  x509.NameAttribute(NameOID.COMMON_NAME, pki.PANEL_COMMON_NAME)]))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("panel.contoh.go.id")]),
                             critical=False)
              .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    bundle = enrolments.redeem(token, greedy).bundle
    cert = x509.load_pem_x509_certificate(bundle.certificate.encode())
    assert pki.common_name(cert) == "ch-01" and pki.certificate_role(cert) == pki.ROLE_AGENT
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in names] == ["127.0.0.1"]
    assert not pki.is_panel_certificate(cert)


def test_a_token_is_spent_once_under_concurrency(enrolments: pki.Enrolments) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    csrs = [pki.make_csr(pki.new_agent_key(), "ch-01") for _ in range(8)]
    outcomes: list[str] = []

    def redeem(csr: str) -> None:
        try:
            enrolments.redeem(token, csr)
            outcomes.append("ok")
        except pki.EnrolmentRefused as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=redeem, args=(csr,)) for csr in csrs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1 and set(outcomes) <= {"ok", "token_used"}


@pytest.mark.parametrize(("name", "addresses"), [
    ("CH 01", ["127.0.0.1"]), ("ch-01", []), ("ch-01", ["bad name!"]), ("ch-01", ["-x.go.id"])])
def test_tokens_are_issued_only_for_valid_names(enrolments: pki.Enrolments, name: str,
                                                addresses: list[str]) -> None:
    with pytest.raises(ValueError):
        enrolments.issue_token(name, addresses)


def test_the_redeem_request_body_is_decoded_strictly(enrolments: pki.Enrolments) -> None:
    for body in (None, [], {"token": 1, "csr": "x"}, {"token": "t"}, {"token": "t", "csr": "c",
                                                                        "role": "panel"}):
        with pytest.raises(pki.EnrolmentRefused) as excinfo:
            enrolments.redeem_request(body)
        assert excinfo.value.code == "malformed_request"


# --- what the agent accepts ----------------------------------------------------------------------


@pytest.fixture
def bundle_and_key(enrolments: pki.Enrolments) -> tuple[protocol.EnrolmentBundle,
                                                        ec.EllipticCurvePrivateKey]:
    key = pki.new_agent_key()
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    return enrolments.redeem(token, pki.make_csr(key, "ch-01")).bundle, key


def test_the_agent_refuses_a_ca_other_than_the_pinned_one(bundle_and_key: Any,
                                                          tmp_path: Path) -> None:
    bundle, key = bundle_and_key
    other = pki.PanelCA.create(tmp_path / "other")
    with pytest.raises(pki.EnrolmentRefused, match="sidik jari"):
        pki.verify_bundle(bundle, key, other.ca_sha256)


def test_the_agent_refuses_a_certificate_for_another_key(bundle_and_key: Any,
                                                        ca: pki.PanelCA) -> None:
    bundle, _ = bundle_and_key
    with pytest.raises(pki.EnrolmentRefused, match="kunci agen"):
        pki.verify_bundle(bundle, pki.new_agent_key(), ca.ca_sha256)


def test_the_agent_refuses_a_release_key_the_ca_did_not_endorse(bundle_and_key: Any,
                                                                ca: pki.PanelCA,
                                                                tmp_path: Path) -> None:
    bundle, key = bundle_and_key
    impostor = pki.PanelCA.create(tmp_path / "impostor")
    swapped = protocol.EnrolmentBundle(
        **{**bundle.to_dict(), "release_signing_key": impostor.release_signing_public_pem})
    with pytest.raises(pki.EnrolmentRefused, match="tidak disahkan"):
        pki.verify_bundle(swapped, key, ca.ca_sha256)


def test_the_pin_may_be_written_with_colons(bundle_and_key: Any, ca: pki.PanelCA) -> None:
    bundle, key = bundle_and_key
    pki.verify_bundle(bundle, key, ":".join(ca.ca_sha256[i:i + 2].upper()
                                           for i in range(0, 64, 2)))


# --- `wadah agent enroll` against a panel over HTTPS ---------------------------------------------


class FakePanel:
    """The panel's enrol route, reduced to what it must do: call `Enrolments.redeem_request`."""

    def __init__(self, enrolments: pki.Enrolments, tmp: Path) -> None:
        self.enrolments = enrolments
        # The panel's web certificate comes from elsewhere (here: another throwaway CA).
        web_ca = pki.PanelCA.create(tmp / "web-ca")
        key = pki.new_agent_key()
        cert = web_ca.issue_agent_certificate(pki.make_csr(key, "panel"), "panel", ["127.0.0.1"])
        (tmp / "web.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp / "web.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.ca_bundle = web_ca.ca_cert_path
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self, threaded=True,
            ssl_context=(str(tmp / "web.crt"), str(tmp / "web.key")))
        self.url = f"https://127.0.0.1:{self.server.port}"
        self.enrolled: list[pki.EnrolledAgent] = []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path != protocol.ENROLL_PATH or request.method != "POST":
            return Response("{}", status=404)(environ, start_response)
        try:
            enrolled = self.enrolments.redeem_request(request.get_json(silent=True))
        except pki.EnrolmentRefused as refused:
            body = {"error": {"code": refused.code, "message": refused.message}}
            return Response(json.dumps(body), status=403,
                            mimetype="application/json")(environ, start_response)
        self.enrolled.append(enrolled)
        return Response(json.dumps(enrolled.bundle.to_dict()),
                        mimetype="application/json")(environ, start_response)


@pytest.fixture
def panel(enrolments: pki.Enrolments, tmp_path: Path) -> Iterator[FakePanel]:
    fake = FakePanel(enrolments, tmp_path)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def enroll(panel: FakePanel, state: Path, token: str, pin: str, *extra: str) -> Any:
    return CliRunner().invoke(agent_command, [
        "enroll", "--panel", panel.url, "--token", token, "--ca-sha256", pin,
        "--panel-ca", str(panel.ca_bundle), "--state-dir", str(state), *extra])


def test_enroll_command_end_to_end(panel: FakePanel, enrolments: pki.Enrolments,
                                   ca: pki.PanelCA, tmp_path: Path) -> None:
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


def start_agent_from(state: Path, ca: pki.PanelCA) -> Agent:
    from agents.api import AgentAPI, NonceLedger
    from agents.artifacts import ArtifactStore
    from agents.daemon import build_api_server

    credentials = pki.AgentCredentials(state)
    store = ArtifactStore(state / "artifacts")
    host = RecordingHost()
    api = AgentAPI(host, store, NonceLedger(state / "nonces.sqlite3"), credentials.agent_name,
                   credentials.release_public_key())
    server = build_api_server(api, "127.0.0.1:0", credentials.server_context())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Agent(ca, credentials, host, store, api, server, state)


def test_enroll_refuses_a_panel_whose_ca_is_not_the_pinned_one(
        panel: FakePanel, enrolments: pki.Enrolments, tmp_path: Path) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    wrong_pin = pki.PanelCA.create(tmp_path / "elsewhere").ca_sha256
    state = tmp_path / "agent-state"
    result = enroll(panel, state, token, wrong_pin)
    assert result.exit_code != 0 and "bad_bundle" in result.output
    assert not (state / "tls").exists()


@pytest.mark.parametrize(("token_of", "code"), [
    (lambda e: "wdh1.0123456789abcdef." + "A" * 43, "token_invalid"),
    (lambda e: e.issue_token("ch-01", ["127.0.0.1"], ttl_s=-1), "token_expired"),
])
def test_enroll_reports_a_refused_token(panel: FakePanel, enrolments: pki.Enrolments,
                                        ca: pki.PanelCA, tmp_path: Path, token_of: Any,
                                        code: str) -> None:
    state = tmp_path / "agent-state"
    result = enroll(panel, state, token_of(enrolments), ca.ca_sha256)
    assert result.exit_code != 0 and code in result.output
    assert not (state / "tls").exists()


def test_enroll_needs_https(ca: pki.PanelCA, tmp_path: Path) -> None:
    # Refused before anything is sent: the address is never contacted.
    result = CliRunner().invoke(agent_command, [
        "enroll", "--panel", "http://panel.test:9", "--token", "t", "--ca-sha256", ca.ca_sha256,
        "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "insecure_panel_url" in result.output


def test_enroll_over_plain_http_only_on_loopback(ca: pki.PanelCA, tmp_path: Path) -> None:
    # The embedded one-machine setup enrols its local agent over loopback HTTP.
    result = CliRunner().invoke(agent_command, [
        "enroll", "--panel", "http://127.0.0.1:9", "--token", "t", "--ca-sha256", ca.ca_sha256,
        "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "panel_unreachable" in result.output


def test_enroll_reports_an_unreachable_panel(ca: pki.PanelCA, tmp_path: Path) -> None:
    result = CliRunner().invoke(agent_command, [
        "enroll", "--panel", "https://127.0.0.1:9", "--token", "t", "--ca-sha256", ca.ca_sha256,
        "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "panel_unreachable" in result.output


def test_run_refuses_to_start_unenrolled(tmp_path: Path) -> None:
    result = CliRunner().invoke(agent_command, ["run", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code != 0 and "belum terdaftar" in result.output

