"""What the panel keeps of its hosts' findings and crash loops, without an agent: the agent's answers
are given as it sends them, and the notices go to a real SMTP server on 127.0.0.1."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import AppStatus, AuditEvent, FindingAction, RoleKey
from panel.services.apps import app_lifecycle, recovery
from panel.services.apps.app_operations import OperationRefused
from panel.tasks import notices
from tests.panel import factories
from tests.panel.smtp import Inbox, smtp_server


def _held(agent_id: str, action: str = "quarantined", path: str = "uploads%2Fa/promo.html") -> dict[str, Any]:
    # As the agent's Held.to_dict sends it.
    return {"id": agent_id, "app": "portal", "path": path, "served_path": "uploads/a/promo.html",
            "sha256": "a" * 64, "size": 10, "mode": 0o644, "uid": 1000, "gid": 1000, "mtime": 0.0,
            "detected_at": "2026-12-07T10:00:00+00:00", "action": action,
            "findings": [{"rule": "judol-keywords", "engine": "judol", "severity": "high",
                          "message": "kata kunci judi online"}]}


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    with smtp_server() as server:
        app.config.update(SMTP_HOST=server.host, SMTP_PORT=server.port)
        yield server


def test_a_finding_is_recorded_once_and_follows_the_agent(app: Flask) -> None:
    portal = factories.app()
    fresh = recovery.record_findings(portal, [_held("a1b2c3")])
    assert [(f.served_path, f.rule, f.engine, f.action) for f in fresh] == [
        ("uploads/a/promo.html", "judol-keywords", "judol", FindingAction.QUARANTINED)]
    assert recovery.record_findings(portal, [_held("a1b2c3")]) == []  # known: not new again
    recovery.record_findings(portal, [_held("a1b2c3", action="released")])
    assert recovery.findings_of(portal)[0].action == FindingAction.RELEASED
    assert recovery.record_findings(portal, [{"id": "../x"}]) == []  # not an agent's id: ignored
    assert db.session.scalars(select(AuditEvent.action).where(AuditEvent.action == "app.finding")).all() \
        == ["app.finding"]


def test_a_finding_of_another_app_is_not_found(app: Flask) -> None:
    portal, other = factories.app(), factories.app()
    [finding] = recovery.record_findings(portal, [_held("a1b2c3")])
    with pytest.raises(OperationRefused):
        recovery.finding_of(other, finding.id)


def test_new_findings_mail_the_apps_admins_and_the_technicians(app: Flask, inbox: Inbox) -> None:
    portal = factories.app()
    factories.user([RoleKey.OPD_ADMIN], opd=portal.opd, email="admin@dinas.contoh.go.id")
    factories.user([RoleKey.OPD_ADMIN], email="admin@lain.contoh.go.id")
    factories.user([RoleKey.TECHNICIAN], email="teknisi@contoh.go.id")
    fresh = recovery.record_findings(portal, [_held("a1b2c3")])
    db.session.commit()
    assert notices.notify_findings.call_local(portal.id, [f.id for f in fresh]) == "sent"
    assert sorted(inbox.recipients()) == ["admin@dinas.contoh.go.id", "teknisi@contoh.go.id"]
    body = inbox.messages[0].message.get_content()
    assert "uploads/a/promo.html" in body and "judol-keywords" in body


def test_a_crash_loop_is_one_episode_until_it_ends(app: Flask) -> None:
    portal = factories.app(status=AppStatus.RUNNING)
    assert recovery.note_crash_loop(portal, {"name": portal.name, "crash_loop": True})
    assert portal.status == AppStatus.CRASH_LOOP
    # Reported again each minute: the same episode, no new notice.
    assert not recovery.note_crash_loop(portal, {"name": portal.name, "crash_loop": True})
    assert not recovery.note_crash_loop(portal, {"name": portal.name, "crash_loop": False})
    assert portal.status == AppStatus.RUNNING
    assert recovery.note_crash_loop(portal, {"name": portal.name, "crash_loop": True})  # a new one
    assert not recovery.note_crash_loop(portal, None)  # the host did not say: nothing changes
    assert portal.status == AppStatus.CRASH_LOOP
    # Someone looks after it: a start or stop takes it out of the loop.
    app_lifecycle.controlled(portal, "stop", None, "exited")
    assert portal.status == AppStatus.STOPPED
    # A stopped app is not in a loop, whatever a stale report says.
    assert not recovery.note_crash_loop(portal, {"name": portal.name, "crash_loop": True})
    assert portal.status == AppStatus.STOPPED


def test_a_crash_loop_mails_the_apps_admins_and_the_technicians(app: Flask, inbox: Inbox) -> None:
    portal = factories.app(status=AppStatus.RUNNING)
    factories.user([RoleKey.OPD_ADMIN], opd=portal.opd, email="admin@dinas.contoh.go.id")
    factories.user([RoleKey.TECHNICIAN], email="teknisi@contoh.go.id")
    db.session.commit()
    assert notices.notify_crash_loop.call_local(portal.id) == "sent"
    assert sorted(inbox.recipients()) == ["admin@dinas.contoh.go.id", "teknisi@contoh.go.id"]
    assert portal.fqdn in inbox.messages[0].message["Subject"]


def test_bad_backup_input_is_refused_before_any_agent_is_asked(app: Flask) -> None:
    portal = factories.app()
    for bad in ("../etc", "", "a" * 65, "ab cd", "ä1"):
        with pytest.raises(OperationRefused):
            recovery.check_backup_id(bad)
    for hours in (-1, 24 * 30 + 1, True, "24"):
        with pytest.raises(OperationRefused):
            recovery.check_backup_hours(hours)
    with pytest.raises(OperationRefused):  # not deployed: nothing to back up
        recovery.expect_backup_possible(portal)
    other = factories.app()  # another agency's app is never a target
    with pytest.raises(OperationRefused):
        recovery.restore_target(portal, other.id)


def test_an_app_in_a_crash_loop_says_so_on_its_web_panel(app: Flask, client, login_as) -> None:
    portal = factories.app(status=AppStatus.RUNNING)
    recovery.note_crash_loop(portal, {"name": portal.name, "crash_loop": True})
    db.session.commit()
    login_as(RoleKey.TECHNICIAN)
    page = client.get(f"/apps/{portal.id}").get_data(as_text=True)
    assert "Terus mati (crash loop)" in page and 'role="alert"' in page


def test_a_second_backup_or_schedule_while_the_first_runs_is_refused_with_409(app: Flask) -> None:
    from panel.actions import apps as app_actions
    from panel.models import HostStatus, Job, JobStatus
    from panel.models.base import utcnow
    from tests.panel.openapi import conforms

    host = factories.host(status=HostStatus.ONLINE, cert_fingerprint="aa:bb:cc")
    portal = factories.app(host=host, status=AppStatus.RUNNING)
    factories.release(portal, deployed_at=utcnow())
    technician = factories.user([RoleKey.TECHNICIAN])
    _token, secret = factories.api_token(technician)
    for kind in (app_actions.BACKUP, app_actions.BACKUP_SCHEDULE):  # as if a worker had them now
        db.session.add(Job(kind=kind, target_type="App", target_id=str(portal.id), status=JobStatus.RUNNING))
    db.session.commit()
    api, bearer = app.test_client(), {"Authorization": f"Bearer {secret}"}
    again = api.post(f"/api/v1/apps/{portal.id}/backups", headers=bearer)
    assert conforms(again, "/apps/{app_id}/backups", "post")["error"]["code"] == "job_running"
    schedule = api.put(f"/api/v1/apps/{portal.id}/backups/schedule", headers=bearer, json={"hours": 6})
    assert conforms(schedule, "/apps/{app_id}/backups/schedule", "put")["error"]["status"] == 409
    bad = api.put(f"/api/v1/apps/{portal.id}/backups/schedule", headers=bearer, json={"hours": "6"})
    assert conforms(bad, "/apps/{app_id}/backups/schedule", "put")["error"]["code"] == "invalid_input"
    db.session.expire_all()
    assert db.session.get(type(portal), portal.id).backup_hours == 24  # nothing changed
