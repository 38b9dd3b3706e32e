"""An app's whole life in Wadah: decommissioning, the app's actions through the API, handing its Web
Panel login to a new manager, and apps hosted before Wadah.

The agent is a small stand-in here (as in test_webpanel.py); the real agent, BIND, nginx and MariaDB
are exercised end to end in test_flow_app_life.py.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from panel import gateway
from panel.actions import apps as app_actions
from panel.extensions import db
from panel.models import App, AppEnvVar, AppStatus, AuditEvent, Job, RoleKey, User
from panel.models.base import utcnow
from panel.services.apps import app_lifecycle, inventory
from panel.services.reports import figures
from panel.services.reports.periods import Month
from tests.panel import factories, flow
from tests.panel.conftest import csrf_token
from tests.panel.openapi import conforms
from tests.panel.test_webpanel import DB_SECRET, FakeAgent, deployed_app


class NoAgent:
    """Fails the test if anything asks an agent: external apps are never sent to one."""

    def client(self, host: Any) -> Any:
        raise AssertionError(f"an agent was asked about {host}")


@pytest.fixture
def agent(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    fake = FakeAgent()
    fake.removed: list[str] = []  # type: ignore[misc]

    def remove(name: str) -> dict[str, Any]:
        fake.removed.append(name)  # type: ignore[attr-defined]
        return {"app": name, "dump": f"/var/lib/wadah-agent/dumps/{name}-20261207T203000.sql.gz"}

    fake.remove = remove  # type: ignore[attr-defined]
    monkeypatch.setattr(gateway.agents(app), "client", lambda host: fake)
    return fake


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": "Bearer " + factories.api_token(user)[1]}


def count(model: type, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# -- decommissioning ------------------------------------------------------------------------------


def test_a_technician_removes_an_app_which_stays_recorded_as_removed(app: Flask, agent: FakeAgent) -> None:
    own = deployed_app()
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    api = app.test_client()
    answer = api.delete(f"/api/v1/apps/{own.id}", headers=bearer(technician),
                        json={"reason": "Diganti aplikasi provinsi"})
    job = conforms(answer, "/apps/{app_id}", "delete")
    assert answer.status_code == 202 and job["kind"] == app_actions.REMOVAL
    db.session.expire_all()
    assert agent.removed == [own.name]  # type: ignore[attr-defined]
    assert own.status == AppStatus.REMOVED and own.removed_at is not None
    assert own.removal_reason == "Diganti aplikasi provinsi"
    assert own.removal_dump == f"{own.name}-20261207T203000.sql.gz"  # its name only, never a host path
    assert conforms(api.get(f"/api/v1/apps/{own.id}", headers=bearer(technician)),
                    "/apps/{app_id}")["status"] == "removed"
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == str(own.id))).all()
    assert {"app.removal_requested", "app.removed", "app.removal_notified"} <= set(actions)
    # A second submit starts nothing: the app is removed already.
    again = api.delete(f"/api/v1/apps/{own.id}", headers=bearer(technician), json={"reason": "Lagi"})
    assert conforms(again, "/apps/{app_id}", "delete")["error"]["code"] == "app_removed"
    assert again.status_code == 409 and count(Job, Job.kind == app_actions.REMOVAL) == 1
    # The inventory hides it unless asked, and then lists it as removed.
    assert own not in [row.app for row in inventory.inventory_page(technician, inventory.AppFilters()).rows]
    listed = inventory.inventory_page(technician, inventory.AppFilters(status="removed")).rows
    assert [row.app for row in listed] == [own]
    # Every other action on it is refused before any job.
    refused = api.post(f"/api/v1/apps/{own.id}/restart", headers=bearer(technician))
    assert refused.status_code == 422 and "sudah dihapus" in refused.get_json()["error"]["message"]


def test_a_removal_while_one_is_running_is_a_409_and_a_bad_reason_a_422(app: Flask, agent: FakeAgent) -> None:
    own = deployed_app()
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    api = app.test_client()
    for reason in ("", "   "):
        blank = api.delete(f"/api/v1/apps/{own.id}", headers=bearer(technician), json={"reason": reason})
        assert blank.status_code == 422, blank.get_json()
        conforms(blank, "/apps/{app_id}", "delete")
    missing = api.delete(f"/api/v1/apps/{own.id}", headers=bearer(technician), json={})
    assert missing.status_code == 422
    db.session.add(Job(kind=app_actions.REMOVAL, target_type="App", target_id=str(own.id)))  # queued
    db.session.commit()
    twice = api.delete(f"/api/v1/apps/{own.id}", headers=bearer(technician), json={"reason": "Pensiun"})
    assert twice.status_code == 409
    db.session.expire_all()
    assert own.status == AppStatus.RUNNING and agent.removed == []  # type: ignore[attr-defined]
    assert count(Job, Job.kind == app_actions.REMOVAL) == 1


def test_only_technicians_remove_an_app_and_the_opd_admin_cannot(app: Flask, agent: FakeAgent) -> None:
    own = deployed_app()
    admin = factories.user([RoleKey.OPD_ADMIN], opd=own.opd)
    db.session.commit()
    api = app.test_client()
    refused = api.delete(f"/api/v1/apps/{own.id}", headers=bearer(admin), json={"reason": "Tidak dipakai"})
    assert refused.status_code == 403
    db.session.expire_all()
    assert own.status == AppStatus.RUNNING and count(Job) == 0


def test_the_web_panel_removes_an_app_only_once_its_name_is_typed(app: Flask, agent: FakeAgent) -> None:
    own = deployed_app()
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    page = flow.signed_in(app, technician)
    assert "Hapus aplikasi" in page.get(f"/apps/{own.id}").get_data(as_text=True)
    flow.post(page, f"/apps/{own.id}/remove", reason="Tidak dipakai lagi", confirm="nama-lain")
    db.session.expire_all()
    assert own.status == AppStatus.RUNNING and count(Job) == 0
    assert "tidak sama dengan nama aplikasi" in flow.flashes(page, f"/apps/{own.id}")
    flow.post(page, f"/apps/{own.id}/remove", reason="Tidak dipakai lagi", confirm=own.name)
    db.session.expire_all()
    assert own.status == AppStatus.REMOVED
    overview = page.get(f"/apps/{own.id}").get_data(as_text=True)
    assert "Tidak dipakai lagi" in overview and own.removal_dump in overview


def test_a_month_before_the_removal_counts_the_app_and_the_month_of_it_lists_it_removed(app: Flask) -> None:
    technician = factories.user([RoleKey.TECHNICIAN])
    kept = factories.app(status=AppStatus.RUNNING, created_at=datetime(2026, 1, 10, tzinfo=UTC))
    gone = factories.app(status=AppStatus.RUNNING, created_at=datetime(2026, 1, 12, tzinfo=UTC))
    app_lifecycle.removed(gone, technician, "Pensiun", None, datetime(2026, 3, 5, tzinfo=UTC))
    db.session.commit()
    february = figures.monthly_report(Month(2026, 2), utcnow()).apps
    march = figures.monthly_report(Month(2026, 3), utcnow()).apps
    assert february.total == 2 and february.removed == []
    assert march.total == 1 and march.removed == [gone.name]
    assert figures.monthly_report(Month(2026, 4), utcnow()).apps.removed == []
    assert kept.status == AppStatus.RUNNING


# -- the app's actions through the API --------------------------------------------------------------


def test_an_opd_admin_drives_its_app_through_the_api_with_the_web_panels_rules(
        app: Flask, agent: FakeAgent) -> None:
    own = deployed_app()
    admin = factories.user([RoleKey.OPD_ADMIN], opd=own.opd)
    stranger = factories.user([RoleKey.OPD_ADMIN])
    db.session.commit()
    api, mine = app.test_client(), bearer(admin)
    restarted = api.post(f"/api/v1/apps/{own.id}/restart", headers=mine)
    job = conforms(restarted, "/apps/{app_id}/{action}", "post")
    assert restarted.status_code == 202 and job["status"] == "succeeded"
    assert agent.calls[-1] == ("restart", (own.name,))
    polled = conforms(api.get(f"/api/v1/jobs/{job['id']}", headers=mine), "/jobs/{job_id}")
    assert polled["result"]["action"] == "restart"
    # Another agency's admin learns nothing, and starts nothing.
    assert api.post(f"/api/v1/apps/{own.id}/stop", headers=bearer(stranger)).status_code == 404
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=bearer(stranger)).status_code == 404
    assert api.post(f"/api/v1/apps/{own.id}/explode", headers=mine).status_code == 404

    logs = conforms(api.get(f"/api/v1/apps/{own.id}/logs?lines=50", headers=mine), "/apps/{app_id}/logs")
    fetched = api.get(f"/api/v1/jobs/{logs['id']}", headers=mine).get_json()
    assert set(fetched["result"]["logs"]) == {"app", "access", "error"}

    # Variables: a name that loads code is refused as on the Web Panel, and nothing is written.
    refused = api.put(f"/api/v1/apps/{own.id}/variables", headers=mine,
                      json={"variables": {"APP_MODE": "produksi", "LD_PRELOAD": "/data/x.so"}})
    assert refused.status_code == 422 and "LD_PRELOAD" in refused.get_json()["error"]["message"]
    assert count(AppEnvVar) == 0 and not any(call[0] == "set_env" for call in agent.calls)
    applied = api.put(f"/api/v1/apps/{own.id}/variables", headers=mine,
                      json={"variables": {"APP_MODE": "produksi"}})
    assert conforms(applied, "/apps/{app_id}/variables", "put")["status"] == "succeeded"
    listed = conforms(api.get(f"/api/v1/apps/{own.id}/variables", headers=mine), "/apps/{app_id}/variables")
    assert listed["items"][0]["name"] == "APP_MODE" and "produksi" not in str(listed)

    # The database password: shown once, in the job's result, to whoever asked for the reset.
    reset = api.post(f"/api/v1/apps/{own.id}/database/password", headers=mine)
    started = conforms(reset, "/apps/{app_id}/database/password", "post")
    assert "sealed" not in started.get("result", {})
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    assert api.get(f"/api/v1/jobs/{started['id']}", headers=bearer(technician)).status_code == 422
    shown = api.get(f"/api/v1/jobs/{started['id']}", headers=mine)
    assert shown.headers["Cache-Control"] == "no-store"
    assert conforms(shown, "/jobs/{job_id}")["result"]["password"] == DB_SECRET
    assert api.get(f"/api/v1/jobs/{started['id']}", headers=mine).status_code == 422  # once


# -- handing the Web Panel login over ---------------------------------------------------------------


def test_a_handover_gives_a_new_password_once_and_ends_the_old_managers_sessions(
        app: Flask, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    old_manager = flow.signed_in(app, login)
    assert old_manager.get(f"/apps/{own.id}").status_code == 200
    _token, old_secret = factories.api_token(login)
    db.session.commit()
    epoch = login.session_epoch

    api = app.test_client()
    answer = api.post(f"/api/v1/apps/{own.id}/login", headers=bearer(technician),
                      json={"username": "pengelola-baru"})
    handed = conforms(answer, "/apps/{app_id}/login", "post")
    assert answer.headers["Cache-Control"] == "no-store"
    assert handed["username"] == "pengelola-baru" and handed["subdomain"] == own.fqdn
    db.session.expire_all()
    assert login.username == "pengelola-baru" and login.must_change_password
    assert login.session_epoch == epoch + 1
    # The old manager's session and token are worthless now; the new password signs in.
    assert old_manager.get(f"/apps/{own.id}").status_code == 302
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {old_secret}"}).status_code == 401
    fresh = app.test_client()
    signed = fresh.post("/login", data={"username": "pengelola-baru", "password": handed["password"],
                                        "csrf_token": csrf_token(fresh, "/login")})
    assert signed.status_code == 302
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "app.login_handover")).one()
    assert event.details["previous_username"] != "pengelola-baru"
    assert handed["password"] not in str(event.details)


def test_a_handover_refuses_a_username_already_taken_and_changes_nothing(app: Flask) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    before = (login.username, login.password_hash, login.session_epoch)
    refused = app.test_client().post(f"/api/v1/apps/{own.id}/login", headers=bearer(technician),
                                     json={"username": technician.username})
    assert refused.status_code == 422
    db.session.expire_all()
    assert (login.username, login.password_hash, login.session_epoch) == before


def test_the_web_panel_hands_the_login_over_on_its_page(app: Flask) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    page = flow.signed_in(app, technician)
    shown = flow.post(page, f"/apps/{own.id}/login", username="")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    text = shown.get_data(as_text=True)
    assert login.username in text and 'class="secret"' in text


# -- apps hosted before Wadah -----------------------------------------------------------------------


def test_an_external_app_is_recorded_counted_and_never_sent_to_an_agent(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.agents(app), "client", NoAgent().client)
    technician = factories.user([RoleKey.TECHNICIAN])
    owner = factories.opd()
    admin = factories.user([RoleKey.OPD_ADMIN], opd=owner)
    db.session.commit()
    api = app.test_client()
    answer = api.post("/api/v1/apps", headers=bearer(technician), json={
        "external": True, "name": "sipd-lama", "url": "https://sipd.muaraenimkab.go.id/login",
        "opd_id": owner.id, "server": "Server lama Diskominfo (10.1.2.3)", "stack": "php"})
    recorded = conforms(answer, "/apps", "post")
    assert answer.status_code == 201 and recorded["status"] == "external"
    assert recorded["fqdn"] == "sipd.muaraenimkab.go.id" and recorded["host"] is None
    external = db.session.get_one(App, recorded["id"])
    # The inventory and the month's report count it, with the other apps of the Pemda.
    assert inventory.summary_for(admin).apps_total == 1
    month = figures.monthly_report(Month.current(utcnow()), utcnow()).apps
    assert month.total == 1 and month.by_host[0].label == "Di luar Wadah (eksternal)"
    # Its name is taken: the same address cannot be recorded twice.
    twice = api.post("/api/v1/apps", headers=bearer(technician), json={
        "external": True, "name": "sipd-lagi", "url": "sipd.muaraenimkab.go.id", "opd_id": owner.id,
        "server": "x", "stack": "php"})
    assert twice.status_code == 422
    # Every action is refused with a clear message, before any job; the Web Panel says the same.
    for path in ("restart", "rollback", "database/password"):
        refused = api.post(f"/api/v1/apps/{external.id}/{path}", headers=bearer(admin))
        assert refused.status_code == 422, path
        assert "aplikasi eksternal" in refused.get_json()["error"]["message"]
    assert api.get(f"/api/v1/apps/{external.id}/logs", headers=bearer(admin)).status_code == 422
    assert count(Job) == 0
    page = flow.signed_in(app, admin)
    flow.post(page, f"/apps/{external.id}/restart")
    assert "aplikasi eksternal" in flow.flashes(page, f"/apps/{external.id}") and count(Job) == 0
    # It may be marked removed (retired elsewhere): still no agent, no zone.
    removed = api.delete(f"/api/v1/apps/{external.id}", headers=bearer(technician),
                         json={"reason": "Dimatikan di server lama"})
    assert removed.status_code == 202 and removed.get_json()["status"] == "succeeded"
    db.session.expire_all()
    assert external.status == AppStatus.REMOVED


def test_the_external_app_page_records_one_for_a_technician(app: Flask) -> None:
    technician = factories.user([RoleKey.TECHNICIAN])
    owner = factories.opd()
    db.session.commit()
    page = flow.signed_in(app, technician)
    assert "Catat aplikasi eksternal" in page.get("/apps").get_data(as_text=True)
    sent = flow.post(page, "/apps/external", name="simpeg-lama", url="http://simpeg.contoh.go.id",
                     opd_id=str(owner.id), server="aaPanel 10.0.0.5", stack="php")
    assert sent.status_code == 302, flow.flashes(page, "/apps/external")
    recorded = db.session.scalar(select(App).where(App.name == "simpeg-lama"))
    assert recorded is not None and recorded.status == AppStatus.EXTERNAL
    assert recorded.external_server == "aaPanel 10.0.0.5" and recorded.opd_id == owner.id
    overview = page.get(sent.location).get_data(as_text=True)
    assert "http://simpeg.contoh.go.id/" in overview and "aaPanel 10.0.0.5" in overview
    bad = flow.post(page, "/apps/external", name="Nama Dengan Spasi", url="ftp://x", opd_id=str(owner.id),
                    server="x", stack="php")
    assert bad.status_code == 200 and count(App) == 1
