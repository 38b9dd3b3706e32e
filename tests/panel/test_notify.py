from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import (
    AppAccount,
    Artifact,
    AttachmentKind,
    AuditEvent,
    Release,
    ReleaseStatus,
    RoleKey,
    ScanReport,
    Verdict,
)
from panel.models.base import utcnow
from panel.services import notify
from panel.services.notify import Delivery, Notice, SmtpSettings
from panel.services.requests import sla, workflow
from panel.tasks import notices
from tests.panel import factories
from tests.panel.smtp import Inbox, smtp_server, unused_port

PATTERN = "{seq:03d}/HOST/DISKOMINFO/{year}"
SMTP_PASSWORD = "smtp-rahasia-jangan-bocor"


@pytest.fixture
def people(app: Flask) -> dict:
    workflow.ensure_builtin_templates()
    opd = factories.opd(name="Dinas Kesehatan")
    made = {
        "opd": opd,
        "opd_admin": factories.user([RoleKey.OPD_ADMIN], opd=opd, email="admin@dinkes.contoh.go.id"),
        "other_opd_admin": factories.user([RoleKey.OPD_ADMIN], email="admin@lain.contoh.go.id"),
        "head": factories.user([RoleKey.HEAD], email="kadis@contoh.go.id", full_name="Kadis Contoh"),
        "kabid": factories.user([RoleKey.HEAD, RoleKey.AUDITOR], email="kabid@contoh.go.id"),
        "head_without_email": factories.user([RoleKey.HEAD]),
        "former_head": factories.user([RoleKey.HEAD], email="mantan@contoh.go.id"),
        "coordinator": factories.user([RoleKey.COORDINATOR], email="kasie@contoh.go.id"),
    }
    made["former_head"].active = False
    db.session.commit()
    return made


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    with smtp_server() as server:
        app.config.update(SMTP_HOST=server.host, SMTP_PORT=server.port,
                          MAIL_FROM="Wadah Diskominfo <wadah@contoh.go.id>")
        yield server


def _submit(people: dict):
    draft = workflow.RequestDraft(app_name="SIMPEG", subdomain="simpeg", stack="php")
    filed = workflow.submit(people["opd_admin"], people["opd"], draft, "muara_enim", PATTERN)
    factories.attach(filed, AttachmentKind.REQUEST_LETTER)  # the kelengkapan of the first steps
    return filed


def _overdue(people: dict, minutes: float = 6):
    request = _submit(people)
    workflow.current_step(request).started_at = utcnow() - timedelta(minutes=minutes)
    return request


def test_recipients_are_active_users_of_the_role_with_an_email(people) -> None:
    heads = notify.recipients(RoleKey.HEAD)
    assert [user.email for user in heads] == ["kadis@contoh.go.id", "kabid@contoh.go.id"]


def test_agency_roles_reach_only_users_of_that_agency(people) -> None:
    assert notify.recipients(RoleKey.OPD_ADMIN, people["opd"].id) == [people["opd_admin"]]
    assert notify.recipients(RoleKey.OPD_ADMIN) == []


def test_step_notices_name_the_request_step_and_mutu_baku(people) -> None:
    request = _submit(people)
    step = workflow.current_step(request)
    label = "Menerima surat permohonan penggunaan sub-domain dan hosting (disposisi Kepala Dinas)"
    assigned = notify.step_assigned(request, step, label)
    assert assigned.body.startswith(f"Permohonan {request.number} menunggu tindakan Anda: {label}, "
                                    "Mutu Baku 5 menit.")
    assert "SIMPEG (simpeg)" in assigned.body and "Dinas Kesehatan" in assigned.body
    step.started_at = utcnow() - timedelta(minutes=7, seconds=10)
    overdue = notify.step_overdue(request, label, sla.step_timing(step, utcnow()))
    assert overdue.subject == f"Permohonan {request.number} melewati Mutu Baku"
    assert "melewati Mutu Baku 5 menit: sudah berjalan 8 menit (terlambat 3 menit)" in overdue.body


def test_each_reader_gets_the_notice_in_the_language_they_chose(people, inbox) -> None:
    request = _submit(people)
    step = workflow.current_step(request)
    people["kabid"].locale = "en"
    readers = [people["head"], people["kabid"]]
    settings = SmtpSettings.from_config(_config())
    delivery = notify.send_to_each_in_their_language(
        settings, lambda: notify.step_assigned(request, step, "Disposisi"), readers)
    assert delivery == Delivery.SENT
    subjects = {m.rcpt_tos[0]: m.message["Subject"] for m in inbox.messages}
    assert subjects == {"kadis@contoh.go.id": f"Permohonan {request.number} menunggu tindakan Anda",
                        "kabid@contoh.go.id": f"Request {request.number} awaits your action"}
    english = next(m.message for m in inbox.messages if m.rcpt_tos == ("kabid@contoh.go.id",))
    assert english.get_content().startswith("Dear ") and "service standard 5 minutes" in english.get_content()


def test_send_mails_each_recipient_separately(people, inbox) -> None:
    notice = Notice("Uji coba", "Isi pesan uji.")
    users = [people["head"], people["kabid"], people["head_without_email"]]
    assert notify.send(SmtpSettings.from_config(_config()), notice, users) == Delivery.SENT
    assert inbox.recipients() == ["kadis@contoh.go.id", "kabid@contoh.go.id"]
    message = inbox.messages[0].message
    assert message["To"] == "Kadis Contoh <kadis@contoh.go.id>"
    assert message["From"] == "Wadah Diskominfo <wadah@contoh.go.id>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@contoh.go.id>")
    assert message.get_content().splitlines() == ["Yth. Kadis Contoh,", "", "Isi pesan uji."]


def test_without_smtp_host_the_notice_is_only_logged(people, app, caplog) -> None:
    app.config.update(SMTP_HOST="", SMTP_PASSWORD=SMTP_PASSWORD)
    with caplog.at_level(logging.INFO, logger="panel.services.notify"):
        delivery = notify.send(SmtpSettings.from_config(app.config), Notice("Uji", "Isi"), [people["head"]])
    assert delivery == Delivery.NOT_CONFIGURED
    assert "SMTP_HOST empty" in caplog.text and SMTP_PASSWORD not in caplog.text


def test_smtp_down_is_logged_not_raised(people, caplog) -> None:
    settings = SmtpSettings(host="127.0.0.1", port=unused_port(), timeout=2)
    with caplog.at_level(logging.WARNING, logger="panel.services.notify"):
        assert notify.send(settings, Notice("Uji", "Isi"), [people["head"]]) == Delivery.FAILED
    assert "not sent through" in caplog.text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback test server
def test_credentials_authenticate_but_never_appear_in_mail_or_logs(people, caplog) -> None:
    with smtp_server(credentials=("wadah", SMTP_PASSWORD)) as server:
        settings = SmtpSettings(host=server.host, port=server.port, username="wadah", password=SMTP_PASSWORD)
        with caplog.at_level(logging.DEBUG):
            assert notify.send(settings, Notice("Uji", "Isi"), [people["head"]]) == Delivery.SENT
            wrong = SmtpSettings(host=server.host, port=server.port, username="wadah", password="salah-sandi")
            assert notify.send(wrong, Notice("Uji", "Isi"), [people["head"]]) == Delivery.FAILED
    assert len(server.messages) == 1 and SMTP_PASSWORD.encode() not in server.messages[0].raw
    assert SMTP_PASSWORD not in caplog.text and "salah-sandi" not in caplog.text
    assert SMTP_PASSWORD not in repr(settings)


def test_credentials_are_never_sent_in_clear_to_a_remote_server(people, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("no connection may be opened")

    monkeypatch.setattr(notify.smtplib, "SMTP", refuse)
    settings = SmtpSettings(host="smtp.contoh.go.id", port=25, username="wadah", password=SMTP_PASSWORD)
    assert notify.send(settings, Notice("Uji", "Isi"), [people["head"]]) == Delivery.FAILED


def test_an_opened_step_is_mailed_to_its_role_after_commit(people, inbox) -> None:
    request = _submit(people)
    notices.announce_step(workflow.current_step(request))
    notices.announce_step(workflow.current_step(request))  # announced twice, mailed once
    assert inbox.messages == []  # not before the step is committed
    db.session.commit()
    assert inbox.recipients() == ["kadis@contoh.go.id", "kabid@contoh.go.id"]
    assert inbox.messages[0].message["Subject"] == f"Permohonan {request.number} menunggu tindakan Anda"


def test_a_rolled_back_step_is_never_announced(people, inbox) -> None:
    notices.announce_step(workflow.current_step(_submit(people)))
    db.session.rollback()
    factories.opd()
    db.session.commit()
    assert inbox.messages == []


def test_a_rolled_back_savepoint_keeps_the_announcement(people, inbox) -> None:
    request = _submit(people)
    db.session.commit()
    inbox.clear()
    notices.announce_step(workflow.current_step(request))
    with pytest.raises(RuntimeError), db.session.begin_nested():  # as submit() retries a number
        raise RuntimeError
    db.session.commit()
    assert len(inbox.messages) == 2


def test_a_step_acted_on_before_its_notice_is_skipped(people, inbox) -> None:
    request = _submit(people)
    step = workflow.current_step(request)
    workflow.act(request, people["head"])
    db.session.commit()
    inbox.clear()
    assert notices.notify_step_opened(step.id).get() == "skipped"
    assert inbox.messages == []


def test_check_overdue_mails_each_overdue_step_once(people, inbox) -> None:
    late, later = _overdue(people, 6), _overdue(people, 30)
    _overdue(people, 4)  # still within its 5 minutes
    db.session.commit()
    inbox.clear()

    notices.check_overdue()  # periodic tasks keep no result: judge by the mail
    assert sorted(inbox.recipients()) == sorted(["kadis@contoh.go.id", "kabid@contoh.go.id"] * 2)
    subjects = {received.message["Subject"] for received in inbox.messages}
    assert subjects == {f"Permohonan {r.number} melewati Mutu Baku" for r in (late, later)}
    notices.check_overdue()
    assert notices.check_overdue.call_local() == 0
    assert len(inbox.messages) == 4

    db.session.expire_all()
    assert all(workflow.current_step(r).overdue_notified_at is not None for r in (late, later))
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "request.step_overdue")).all()
    assert sorted(e.target_id for e in events) == sorted(str(r.id) for r in (late, later))
    assert events[0].details == {"step": "terima_permohonan", "role": "head", "delivery": "sent",
                                 "recipients": 2}


def test_check_overdue_survives_smtp_down_and_records_it(people, app, caplog) -> None:
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=unused_port(), SMTP_TIMEOUT=2)
    _overdue(people)
    db.session.commit()
    with caplog.at_level(logging.WARNING, logger="panel.services.notify"):
        assert notices.check_overdue.call_local() == 1
    assert "not sent through" in caplog.text
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "request.step_overdue"))
    assert event.details["delivery"] == "failed"


def _release(app_row, number: int, status: ReleaseStatus) -> Release:
    sha = f"{number:064x}"
    db.session.add(Artifact(sha256=sha, size=1, original_name="app.zip"))
    report = ScanReport(artifact_sha256=sha, verdict=Verdict.CLEAN)
    db.session.add(report)
    db.session.flush()
    release = Release(app=app_row, number=number, artifact_sha256=sha, scan_report_id=report.id,
                      status=status)
    db.session.add(release)
    db.session.flush()
    return release


def test_deploy_results_reach_the_apps_administrators(people, inbox) -> None:
    hosted = factories.app(owner=people["opd"], name="simpeg", subdomain="simpeg")
    account = factories.user([RoleKey.APP_ACCOUNT], email="pengelola@simpeg.contoh.go.id")
    db.session.add(AppAccount(user=account, app=hosted))
    first = _release(hosted, 1, ReleaseStatus.LIVE)
    second = _release(hosted, 2, ReleaseStatus.FAILED)
    db.session.commit()

    assert notices.notify_release(first.id).get() == "sent"
    assert notices.notify_release(second.id).get() == "sent"
    assert inbox.recipients() == ["admin@dinkes.contoh.go.id", "pengelola@simpeg.contoh.go.id"] * 2
    finished, failed = inbox.messages[0].message, inbox.messages[2].message
    assert finished["Subject"] == "Rilis #1 simpeg.contoh.go.id berhasil diterapkan"
    assert "kini melayani https://simpeg.contoh.go.id" in finished.get_content()
    assert failed["Subject"] == "Penerapan rilis #2 simpeg.contoh.go.id gagal"
    assert "Versi sebelumnya tetap berjalan." in failed.get_content()


def test_no_message_carries_a_secret(people, app, inbox) -> None:
    app.config.update(SMTP_PASSWORD=SMTP_PASSWORD)  # on a loopback server without AUTH: not used
    app.config.update(SMTP_USERNAME="")
    request = _overdue(people)
    db.session.commit()
    inbox.clear()
    notices.notify_step_opened(workflow.current_step(request).id).get()
    notices.check_overdue()
    assert len(inbox.messages) == 4
    secrets = [SMTP_PASSWORD, app.config["SECRET_KEY"], app.config["SECRETS_KEY"], factories.PASSWORD,
               people["head"].password_hash]
    for received in inbox.messages:
        assert not [secret for secret in secrets if secret.encode() in received.raw]


def _config() -> dict:
    from flask import current_app

    return current_app.config
