"""The panel's CA and its side of enrolment: one-time tokens, CSRs, the certificates, files kept private."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from flask.testing import FlaskClient

from agents import protocol
from agents.credentials import make_csr, new_agent_key, verify_bundle
from agents.protocol import certificates
from panel.services.infra.ca import PanelCA
from panel.services.infra.enrolment import Enrolments, SqliteEnrolmentTokens
from panel.services.infra.gateway import AgentGateway, NoCertificateAuthority
from panel.services.refused import Refused


@pytest.fixture
def ca(tmp_path: Path) -> PanelCA:
    return PanelCA.create(tmp_path / "panel-ca")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def enrolments(ca: PanelCA, clock: Clock) -> Enrolments:
    return Enrolments(ca, SqliteEnrolmentTokens(ca.directory / "tokens.sqlite3"), clock)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# --- the CA --------------------------------------------------------------------------------------


def test_the_ca_keeps_its_files_private(ca: PanelCA) -> None:
    assert mode(ca.directory) == 0o700
    names = sorted(p.name for p in ca.directory.iterdir())
    assert names == ["ca.crt", "ca.key", "panel.crt", "panel.key", "release-signing.key"]
    assert {mode(p) for p in ca.directory.iterdir()} == {0o600}


def test_loose_ca_files_are_tightened_when_the_ca_is_loaded(ca: PanelCA) -> None:
    ca.directory.chmod(0o755)
    for path in ca.directory.iterdir():
        path.chmod(0o644)
    PanelCA.load(ca.directory)
    assert mode(ca.directory) == 0o700 and {mode(p) for p in ca.directory.iterdir()} == {0o600}


def test_the_token_ledger_is_owner_only(enrolments: Enrolments, ca: PanelCA) -> None:
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


def test_certificates_carry_their_roles(ca: PanelCA, tmp_path: Path) -> None:
    constraints = ca.ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    panel = x509.load_pem_x509_certificate(ca.client_cert_path.read_bytes())
    assert certificates.is_panel_certificate(panel)
    panel.verify_directly_issued_by(ca.ca_cert)
    key = new_agent_key()
    agent_cert = ca.issue_agent_certificate(make_csr(key, "x"), "ch-01", ["127.0.0.1"])
    assert not certificates.is_panel_certificate(agent_cert)
    usages = agent_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_the_ca_is_made_once_and_loaded_after(ca: PanelCA) -> None:
    with pytest.raises(FileExistsError):
        PanelCA.create(ca.directory)
    again = PanelCA.load(ca.directory)
    assert again.ca_sha256 == ca.ca_sha256
    assert again.release_signing_public_pem == ca.release_signing_public_pem
    assert PanelCA.exists(ca.directory)


def test_ca_keys_can_be_encrypted(tmp_path: Path) -> None:
    ca = PanelCA.create(tmp_path / "ca", passphrase=b"kata sandi panjang sekali")
    assert b"ENCRYPTED" in (ca.directory / "ca.key").read_bytes()
    with pytest.raises((TypeError, ValueError)):
        PanelCA.load(ca.directory)
    assert PanelCA.load(ca.directory, b"kata sandi panjang sekali").ca_sha256 == ca.ca_sha256


# --- tokens --------------------------------------------------------------------------------------


def test_a_token_enrols_an_agent_once(enrolments: Enrolments, ca: PanelCA) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1", "ch-01.dc.contoh.go.id"])
    key = new_agent_key()
    enrolled = enrolments.redeem(token, make_csr(key, "ch-01"))
    assert enrolled.agent_name == "ch-01" and len(enrolled.fingerprint) == 95
    verify_bundle(enrolled.bundle, key, ca.ca_sha256)
    with pytest.raises(protocol.EnrolmentRefused) as excinfo:
        enrolments.redeem(token, make_csr(new_agent_key(), "ch-01"))
    assert excinfo.value.code == "token_used"


def test_tokens_are_stored_hashed(enrolments: Enrolments, ca: PanelCA) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    secret = token.rsplit(".", 1)[1]
    assert secret.encode() not in (ca.directory / "tokens.sqlite3").read_bytes()


def test_an_expired_token_is_refused(enrolments: Enrolments, clock: Clock) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"], ttl_s=60)
    clock.now += 61
    with pytest.raises(protocol.EnrolmentRefused) as excinfo:
        enrolments.redeem(token, make_csr(new_agent_key(), "ch-01"))
    assert excinfo.value.code == "token_expired"


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
    lambda t: t.replace(t.split(".")[1], "0" * 16),  # unknown id
    lambda t: "wdh1.garbage",
    lambda t: "",
])
def test_a_wrong_token_is_refused(enrolments: Enrolments, mangle: Any) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    with pytest.raises(protocol.EnrolmentRefused) as excinfo:
        enrolments.redeem(mangle(token), make_csr(new_agent_key(), "ch-01"))
    assert excinfo.value.code == "token_invalid"


def test_a_bad_csr_does_not_spend_the_token(enrolments: Enrolments) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ch-01")]))
               .sign(rsa_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    for csr in ("not a csr", rsa_csr):
        with pytest.raises(protocol.EnrolmentRefused) as excinfo:
            enrolments.redeem(token, csr)
        assert excinfo.value.code == "bad_csr"
    enrolments.redeem(token, make_csr(new_agent_key(), "ch-01"))


def test_the_certificate_names_what_the_panel_decided(enrolments: Enrolments) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    key = new_agent_key()
    greedy = (x509.CertificateSigningRequestBuilder()
              .subject_name(x509.Name([
                  x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, certificates.ROLE_PANEL),
                  x509.NameAttribute(NameOID.COMMON_NAME, certificates.PANEL_COMMON_NAME)]))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("panel.contoh.go.id")]),
                             critical=False)
              .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    bundle = enrolments.redeem(token, greedy).bundle
    cert = x509.load_pem_x509_certificate(bundle.certificate.encode())
    assert (certificates.common_name(cert) == "ch-01"
            and certificates.certificate_role(cert) == certificates.ROLE_AGENT)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(n.value) for n in names] == ["127.0.0.1"]
    assert not certificates.is_panel_certificate(cert)


def test_a_token_is_spent_once_under_concurrency(enrolments: Enrolments) -> None:
    token = enrolments.issue_token("ch-01", ["127.0.0.1"])
    csrs = [make_csr(new_agent_key(), "ch-01") for _ in range(8)]
    outcomes: list[str] = []

    def redeem(csr: str) -> None:
        try:
            enrolments.redeem(token, csr)
            outcomes.append("ok")
        except protocol.EnrolmentRefused as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=redeem, args=(csr,)) for csr in csrs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1 and set(outcomes) <= {"ok", "token_used"}


@pytest.mark.parametrize(("name", "addresses"), [
    ("CH 01", ["127.0.0.1"]), ("ch-01", []), ("ch-01", ["bad name!"]), ("ch-01", ["-x.go.id"])])
def test_tokens_are_issued_only_for_valid_names(enrolments: Enrolments, name: str,
                                                addresses: list[str]) -> None:
    with pytest.raises(ValueError):
        enrolments.issue_token(name, addresses)


def test_the_redeem_request_body_is_decoded_strictly(enrolments: Enrolments) -> None:
    for body in (None, [], {"token": 1, "csr": "x"}, {"token": "t"}, {"token": "t", "csr": "c",
                                                                        "role": "panel"}):
        with pytest.raises(protocol.EnrolmentRefused) as excinfo:
            enrolments.redeem_request(body)
        assert excinfo.value.code == "malformed_request"


# --- the gateway ---------------------------------------------------------------------------------


def test_the_gateway_reads_the_ca_but_never_makes_it(tmp_path: Path) -> None:
    agents = AgentGateway(tmp_path / "ca", tmp_path / "artifacts")
    for read in (lambda: agents.ca, lambda: agents.enrolments):
        with pytest.raises(NoCertificateAuthority) as excinfo:
            read()
        assert isinstance(excinfo.value, Refused) and "belum memiliki CA" in str(excinfo.value)
    assert not agents.has_ca() and not (tmp_path / "ca").exists()
    made = agents.create_ca()  # what `wadah up`, `wadah init-config` and the testbed helpers call
    assert agents.create_ca().ca_sha256 == made.ca_sha256  # a second init keeps the first CA
    assert AgentGateway(tmp_path / "ca", tmp_path / "artifacts").ca.ca_sha256 == made.ca_sha256


def test_an_enrolment_before_the_ca_exists_is_answered_503_and_makes_none(app: Flask,
                                                                          client: FlaskClient) -> None:
    response = client.post(protocol.ENROLL_PATH, json={"token": "wdh1.x", "csr": "bukan CSR"})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "no_ca"
    assert app.instance_path not in response.get_data(as_text=True)  # no path told to a stranger
    assert not (Path(app.instance_path) / "ca").exists()
