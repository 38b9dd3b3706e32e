from __future__ import annotations

import pytest
from sqlalchemy import select

from panel.extensions import db
from panel.models import AttachmentKind, AuditEvent, RequestStatus, RoleKey
from panel.services.requests import workflow
from tests.panel import factories

PATTERN = "{seq:03d}/HOST/DISKOMINFO/{year}"


@pytest.fixture
def people(app):
    workflow.ensure_builtin_templates()
    opd = factories.opd()
    return {
        "opd": opd,
        "opd_admin": factories.user([RoleKey.OPD_ADMIN], opd=opd),
        "head": factories.user([RoleKey.HEAD]),
        "coordinator": factories.user([RoleKey.COORDINATOR]),
        "technician": factories.user([RoleKey.TECHNICIAN]),
    }


def _submit(people, template="muara_enim"):
    draft = workflow.RequestDraft(app_name="SIMPEG", subdomain="simpeg", stack="php")
    filed = workflow.submit(people["opd_admin"], people["opd"], draft, template, PATTERN)
    factories.attach(filed, AttachmentKind.REQUEST_LETTER)  # the kelengkapan of the first steps
    return filed


def test_submission_numbers_the_request_and_opens_the_next_step(people) -> None:
    first, second = _submit(people), _submit(people)
    year = first.submitted_at.year
    assert (first.number, second.number) == (f"001/HOST/DISKOMINFO/{year}", f"002/HOST/DISKOMINFO/{year}")
    assert first.status == RequestStatus.SUBMITTED
    assert [s.step_key for s in first.steps] == ["mulai", "terima_permohonan"]
    assert first.steps[0].finished_at is not None and first.steps[1].due_minutes == 5


def test_each_step_is_done_by_its_role(people) -> None:
    request = _submit(people)
    with pytest.raises(workflow.WorkflowError, match="bukan tugas"):
        workflow.act(request, people["technician"])
    workflow.act(request, people["head"], note="Diteruskan ke Sub Koordinator")
    assert request.current_step == "telaah_koordinasi"


def test_a_step_with_branches_refuses_to_finish_without_a_decision(people) -> None:
    request = _submit(people)
    workflow.act(request, people["head"])
    with pytest.raises(workflow.WorkflowError, match="Pilih keputusan"):
        workflow.act(request, people["coordinator"], decision=None)
    assert request.current_step == "telaah_koordinasi"


def test_correction_goes_back_to_the_opd_and_rejection_closes(people) -> None:
    request = _submit(people)
    workflow.act(request, people["head"])
    workflow.act(request, people["coordinator"], decision="perbaikan", note="Lengkapi petunjuk instalasi")
    assert request.status == RequestStatus.NEEDS_CORRECTION and request.current_step == "mulai"
    workflow.act(request, people["opd_admin"])  # resubmitted
    workflow.act(request, people["head"])
    workflow.act(request, people["coordinator"], decision="tidak", note="Bukan aplikasi pemerintah")
    assert request.status == RequestStatus.REJECTED
    with pytest.raises(workflow.WorkflowError, match="sudah selesai"):
        workflow.act(request, people["coordinator"])


def test_every_transition_is_audited(people) -> None:
    request = _submit(people)
    workflow.act(request, people["head"])
    workflow.dispose(request, people["head"], RoleKey.COORDINATOR, "Mohon ditelaah")
    db.session.commit()
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert {"request.submit", "request.step", "request.dispose"} <= set(actions)


def test_a_template_edit_applies_to_new_requests_only(people) -> None:
    from panel.models.workflow import SopTemplateVersion

    old = _submit(people)
    latest = workflow.latest_version("muara_enim")
    edited = {**latest.definition, "steps": [dict(s) for s in latest.definition["steps"]]}
    edited["steps"][1]["waktu_menit"] = 30
    db.session.add(SopTemplateVersion(key="muara_enim", version=2, name=latest.name, definition=edited))
    db.session.flush()
    new = _submit(people)
    assert old.steps[1].due_minutes == 5 and new.steps[1].due_minutes == 30


def test_a_request_reads_deployed_once_its_app_is_live_until_it_closes(people) -> None:
    from panel.models import Attachment

    request = _submit(people)
    workflow.act(request, people["head"])
    workflow.act(request, people["coordinator"], decision="ya")
    request.artifact_sha256 = factories.scan_report("clean").artifact_sha256
    workflow.act(request, people["technician"])
    hosted = factories.app(people["opd"], request_id=request.id)
    workflow.act(request, people["technician"])
    assert request.status == RequestStatus.IN_PROGRESS and request.current_step == "unggah_aplikasi"
    factories.release(hosted)
    factories.app_account(hosted)
    workflow.act(request, people["technician"])  # the deploy step: live, with its Web Panel login
    assert request.status == RequestStatus.DEPLOYED and request.current_step == "laporan_subkoordinator"
    request.attachments.append(Attachment(kind=AttachmentKind.HOSTING_REPORT, filename="l.pdf",
                                          sha256="cd" * 32, size=1, content_type="application/pdf"))
    workflow.act(request, people["coordinator"])
    assert request.status == RequestStatus.DEPLOYED and request.current_step == "laporan_kabid"
    workflow.act(request, people["head"])
    assert request.status == RequestStatus.CLOSED
