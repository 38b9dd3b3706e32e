"""A step's kelengkapan: shown on the request page and in the API, and a named document holds the step."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import AttachmentKind, AuditEvent, RequestStep, RoleKey, User
from panel.services.requests import sop, workflow
from tests.panel import factories, flow
from tests.panel.openapi import conforms


def bearer(user: User) -> dict[str, str]:
    _token, secret = factories.api_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _bare_request():  # type: ignore[no-untyped-def]
    """File a Muara Enim request whose surat permohonan (kelengkapan of step 2) is missing."""
    workflow.ensure_builtin_templates()
    owner = factories.opd()
    admin = factories.user([RoleKey.OPD_ADMIN], opd=owner)
    draft = workflow.RequestDraft(app_name="SIMPEG", subdomain="simpeg", stack="static")
    filed = workflow.submit(admin, owner, draft, "muara_enim", "{seq:03d}/HOST/TEST/{year}")
    db.session.commit()
    return filed


def _finished_steps(request_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(RequestStep).where(
        RequestStep.request_id == request_id, RequestStep.finished_at.is_not(None)))


def test_the_seed_kelengkapan_is_in_the_templates() -> None:
    templates = sop.builtin_templates()
    assert templates["muara_enim"].step("terima_permohonan").required_documents == ("surat_permohonan",)
    assert templates["batam"].step("permohonan").required_documents == (
        "rekomendasi_tim_teknis", "surat_penunjukan_pengelola", "petunjuk_instalasi")
    # Not a document: shown, never a reason to hold the step.
    assert templates["muara_enim"].step("verifikasi_keamanan").kelengkapan == ("berkas_aplikasi",)
    assert templates["muara_enim"].step("verifikasi_keamanan").required_documents == ()


def test_kelengkapan_is_shown_on_the_page_and_in_the_api(app: Flask) -> None:
    filed = _bare_request()
    head = factories.user([RoleKey.HEAD])
    db.session.commit()
    page = flow.signed_in(app, head).get(f"/requests/{filed.id}").get_data(as_text=True)
    assert "Kelengkapan:" in page and "Surat permohonan — belum ada" in page
    answer = app.test_client().get(f"/api/v1/requests/{filed.id}", headers=bearer(head))
    step = conforms(answer, "/requests/{request_id}", "get")["timeline"][-1]
    assert step["step"] == "terima_permohonan" and step["kelengkapan"] == [
        {"key": "surat_permohonan", "label": "Surat permohonan", "document": True, "present": False}]


def test_a_step_without_its_document_is_refused_and_nothing_is_written(app: Flask) -> None:
    filed = _bare_request()
    head = factories.user([RoleKey.HEAD])
    db.session.commit()
    done = _finished_steps(filed.id)

    answer = app.test_client().post(f"/api/v1/requests/{filed.id}/step", headers=bearer(head), json={})
    body = conforms(answer, "/requests/{request_id}/step", "post")
    assert answer.status_code == 422 and "Kelengkapan langkah ini belum ada: Surat permohonan" in (
        body["error"]["message"])
    page = flow.signed_in(app, head)
    flow.post(page, f"/requests/{filed.id}/act", note="Disposisi")
    shown = flow.flashes(page, f"/requests/{filed.id}")
    assert "Kelengkapan langkah ini belum ada: Surat permohonan" in shown

    db.session.expire_all()
    assert filed.current_step == "terima_permohonan" and _finished_steps(filed.id) == done
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "request.step")).all()


def test_with_its_document_the_step_finishes_and_a_return_needs_none(app: Flask) -> None:
    filed = _bare_request()
    head, coordinator = factories.user([RoleKey.HEAD]), factories.user([RoleKey.COORDINATOR])
    factories.attach(filed, AttachmentKind.REQUEST_LETTER)
    db.session.commit()
    page = flow.signed_in(app, head).get(f"/requests/{filed.id}").get_data(as_text=True)
    assert "Surat permohonan — ada" in page
    answer = app.test_client().post(f"/api/v1/requests/{filed.id}/step", headers=bearer(head), json={})
    assert conforms(answer, "/requests/{request_id}/step", "post")["current_step"] == "telaah_koordinasi"
    # Sending the request back for correction does not wait for what the OPD is asked to fix.
    for document in list(filed.attachments):
        db.session.delete(document)
    db.session.commit()
    db.session.expire(filed)
    workflow.act(filed, coordinator, "perbaikan", "Lengkapi surat permohonan")
    assert filed.current_step == "mulai"

