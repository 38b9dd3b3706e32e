"""Agents that live for years: certificate renewal over the signed channel, reenrolment, removal."""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from agents import private_files
from agents.credentials import AgentCredentials, EnrolmentRefused, make_csr, new_agent_key, renew
from agents.protocol.certificates import key_pem
from panel.extensions import db
from panel.models import AuditEvent, Host, HostStatus, RoleKey
from panel.services.infra import hosts
from panel.services.infra.gateway import AgentGateway, AgentUnavailable, HostNotCallable
from panel.tasks import infra as infra_tasks
from tests.panel import factories
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.panel.smtp import smtp_server

SHORT = dt.timedelta(minutes=1)  # with the CA's 5-minute backdate: 1 of 6 minutes left, so due now


@pytest.fixture
def panel_url(app: Flask) -> Iterator[str]:
    """Serve the panel on a loopback port, as the agents reach it."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(5)


def _enrolled(agents: AgentGateway, name: str, state: Path, panel_url: str,
              validity: dt.timedelta = SHORT) -> tuple[Host, AgentCredentials]:
    agents.create_ca()
    agents.agent_cert_validity = validity
    host, token = hosts.add_host(agents, name, "127.0.0.1", 17999, None)
    key = new_agent_key()
    enrolled = agents.enrolments.redeem(token, make_csr(key, name))
    hosts.record_enrolment(enrolled)
    db.session.commit()
    credentials = AgentCredentials(state)
    credentials.save(key, enrolled.bundle, agents.ca.ca_sha256, panel_url)
    return host, credentials


def _files(credentials: AgentCredentials) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in credentials.directory.iterdir()}


def _actions(host: Host) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.target_type == "Host", AuditEvent.target_id == str(host.id))
        .order_by(AuditEvent.id)))


@pytest.mark.slow
def test_a_running_agent_renews_its_certificate_and_serves_the_new_one(
        app: Flask, agents: AgentGateway, testbed: dict[str, dict[str, Any]], tmp_path: Path,
        panel_url: str) -> None:
    agents.create_ca()
    # It enrols with a certificate already due for renewal; the renewed one has the usual life.
    with running_agent(agents, "host-panjang", testbed, tmp_path, panel_url=panel_url,
                       validity=SHORT) as host:
        credentials = AgentCredentials(tmp_path / "agent-host-panjang")
        assert "host.enrol" in _actions(host)
        deadline = time.monotonic() + 60
        # Renewed on the panel, then installed by the agent.
        while True:
            db.session.rollback()
            db.session.refresh(host)
            if ("host.renew" in _actions(host)
                    and credentials.identity()["certificate_sha256"] == host.cert_fingerprint):
                break
            assert time.monotonic() < deadline, (tmp_path / "agent-host-panjang.log").read_text()
            time.sleep(0.5)
        installed = credentials.certificate()
        assert installed.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=390)
        assert host.cert_not_after is not None and host.cert_renewed_at is not None
        # The API answers with the new certificate, without a restart (the pin is the new one).
        deadline = time.monotonic() + 30
        while True:
            try:
                with agents.client(host) as client:
                    assert client.ping()
                break
            except AgentUnavailable:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        log = (tmp_path / "agent-host-panjang.log").read_text()
        assert "the API now serves the new one" in log and "agent stopped" not in log
        # The pinned old certificate is no longer the agent's: a client pinned to it is refused.
        old = next(e for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "host.renew", AuditEvent.target_id == str(host.id))))
        previous = old.details["previous"]
        stale = Host(name=host.name, agent_url=host.agent_url, status=HostStatus.ONLINE,
                     cert_fingerprint=previous)
        with pytest.raises(AgentUnavailable), agents.client(stale) as client:
            client.ping()


def test_a_second_renewal_within_the_hour_is_refused(agents: AgentGateway, tmp_path: Path,
                                                      panel_url: str) -> None:
    host, credentials = _enrolled(agents, "host-sering", tmp_path / "state", panel_url)
    renew(credentials)
    db.session.refresh(host)
    assert host.cert_fingerprint == credentials.identity()["certificate_sha256"]
    before = _files(credentials)
    with pytest.raises(EnrolmentRefused) as refused:
        renew(credentials)
    assert refused.value.code == "too_soon"
    assert _files(credentials) == before


def test_a_removed_host_is_neither_renewed_nor_called(agents: AgentGateway, tmp_path: Path,
                                                     panel_url: str) -> None:
    host, credentials = _enrolled(agents, "host-hapus", tmp_path / "state", panel_url)
    pinned = host.cert_fingerprint
    hosts.remove_host(host, None)
    db.session.commit()
    before = _files(credentials)
    with pytest.raises(EnrolmentRefused) as refused:
        renew(credentials)
    assert refused.value.code == "host_removed"
    assert _files(credentials) == before  # nothing installed
    db.session.rollback()
    db.session.refresh(host)
    assert host.status == HostStatus.RETIRED and host.cert_fingerprint == pinned
    assert "host.renew_refused" in _actions(host) and "host.renew" not in _actions(host)
    with pytest.raises(HostNotCallable):
        agents.client(host)


def test_reenrol_replaces_the_certificate_of_a_lost_key(agents: AgentGateway, tmp_path: Path,
                                                        panel_url: str) -> None:
    host, lost = _enrolled(agents, "host-ulang", tmp_path / "lost", panel_url,
                           dt.timedelta(days=397))
    token = hosts.reenroll(agents, host, None)
    db.session.commit()
    assert host.status == HostStatus.PENDING
    with pytest.raises(HostNotCallable):
        agents.client(host)  # not called with the old key's certificate meanwhile
    with pytest.raises(EnrolmentRefused) as refused:
        renew(lost)  # whoever holds the lost key cannot renew it now
    assert refused.value.code == "reenrolling"
    db.session.rollback()
    key = new_agent_key()
    enrolled = agents.enrolments.redeem(token, make_csr(key, host.name))
    hosts.record_enrolment(enrolled)
    db.session.commit()
    assert host.status == HostStatus.ONLINE and host.cert_fingerprint == enrolled.fingerprint
    before = _files(lost)
    with pytest.raises(EnrolmentRefused) as refused:
        renew(lost)
    assert refused.value.code == "not_current"
    assert _files(lost) == before
    db.session.rollback()
    actions = _actions(host)
    assert actions.index("host.reenroll") < len(actions) - actions[::-1].index("host.enrol") - 1
    assert actions.count("host.renew_refused") == 2 and "host.renew" not in actions


def test_a_forged_renewal_is_refused(agents: AgentGateway, tmp_path: Path, panel_url: str) -> None:
    # Someone with the certificate (it is public) but not the key signs with a key of their own.
    host, credentials = _enrolled(agents, "host-palsu", tmp_path / "state", panel_url)
    forger = new_agent_key()
    real_key = credentials.key_path.read_bytes()
    private_files.write(credentials.key_path, key_pem(forger))
    with pytest.raises(EnrolmentRefused) as refused:
        renew(credentials)
    assert refused.value.code == "bad_signature"
    private_files.write(credentials.key_path, real_key)
    db.session.rollback()
    db.session.refresh(host)
    assert host.cert_fingerprint == credentials.identity()["certificate_sha256"]
    assert "host.renew" not in _actions(host)


def test_technicians_are_mailed_once_before_a_certificate_expires(
        app: Flask, agents: AgentGateway, tmp_path: Path, client: Any, login_as: Any) -> None:
    technician = factories.user([RoleKey.TECHNICIAN], email="teknisi@contoh.go.id")
    factories.user([RoleKey.AUDITOR], email="auditor@contoh.go.id")
    soon, _ = _enrolled(agents, "host-segera", tmp_path / "a", "http://127.0.0.1",
                        dt.timedelta(days=20))
    later, _ = _enrolled(agents, "host-nanti", tmp_path / "b", "http://127.0.0.1",
                         dt.timedelta(days=200))
    with smtp_server() as inbox:
        app.config.update(SMTP_HOST=inbox.host, SMTP_PORT=inbox.port)
        infra_tasks.notify_expiring_certificates()
        infra_tasks.notify_expiring_certificates()  # a second run mails nobody again
        assert inbox.recipients() == [technician.email]
        message = inbox.messages[0].message
        assert "host-segera" in str(message["Subject"]) and "host-nanti" not in message.as_string()
    assert _actions(soon).count("host.expiry_notice") == 1
    assert "host.expiry_notice" not in _actions(later)
    login_as(RoleKey.SUPERADMIN)
    page = client.get("/admin/hosts").get_data(as_text=True)
    assert page.count("Sertifikat agen berlaku sampai") == 2
    assert "Daftarkan ulang agen" in page

def test_the_host_page_sets_the_front_address_and_reenrols(
        agents: AgentGateway, tmp_path: Path, client: Any, login_as: Any) -> None:
    host, _ = _enrolled(agents, "host-halaman", tmp_path / "state", "http://127.0.0.1",
                        dt.timedelta(days=397))
    login_as(RoleKey.SUPERADMIN)
    form = {"csrf_token": csrf_token(client, "/admin/hosts")}
    refused = client.post(f"/admin/hosts/{host.id}/front", data={**form, "front_address": "bukan ip"},
                          follow_redirects=True)
    assert "Alamat depan harus alamat IP" in refused.get_data(as_text=True)
    db.session.refresh(host)
    assert host.front_address is None and host.front == "127.0.0.1"
    saved = client.post(f"/admin/hosts/{host.id}/front", data={**form, "front_address": "127.0.0.9"})
    assert saved.status_code == 302
    db.session.refresh(host)
    assert host.front_address == "127.0.0.9" and "host.front_address" in _actions(host)
    page = client.post(f"/admin/hosts/{host.id}/reenroll", data=form)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "wadah agent enroll" in page.get_data(as_text=True)
    db.session.refresh(host)
    assert host.status == HostStatus.PENDING and "host.reenroll" in _actions(host)


def test_a_renewal_interrupted_before_its_key_is_promoted_completes_at_start(
        agents: AgentGateway, tmp_path: Path, panel_url: str) -> None:
    _, credentials = _enrolled(agents, "host-putus-tengah", tmp_path / "state", panel_url)
    old_key = credentials.key_path.read_bytes()
    renew(credentials)
    new_key = credentials.key_path.read_bytes()
    # As if the agent died after writing the new certificate, before moving its key in place.
    private_files.write(credentials.directory / AgentCredentials.NEXT_KEY, new_key)
    private_files.write(credentials.key_path, old_key)
    credentials.server_context()  # what `wadah agent run` builds at start
    assert credentials.key_path.read_bytes() == new_key
    assert not (credentials.directory / AgentCredentials.NEXT_KEY).exists()
    # A new key whose certificate never arrived is dropped; the working pair stays.
    private_files.write(credentials.directory / AgentCredentials.NEXT_KEY, old_key)
    credentials.server_context()
    assert credentials.key_path.read_bytes() == new_key
    assert not (credentials.directory / AgentCredentials.NEXT_KEY).exists()
