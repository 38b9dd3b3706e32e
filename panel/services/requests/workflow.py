"""The SOP as a running workflow: submit a request, act on its current step, follow the branches.

Each transition is one function here; views and the API call these and never set a status.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from panel import audit, events
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import OPEN_STATUSES, HostingRequest, Opd, RequestStatus, RoleKey, User
from panel.models.base import utcnow
from panel.models.workflow import Comment, Disposition, RequestStep, SopTemplateVersion
from panel.services.refused import Refused
from panel.services.requests import sop, step_outputs, working_time  # noqa: F401 (its deadline hooks)


class WorkflowError(Refused):
    """The action is not possible in the request's current state; the message says why."""


class RequestStateConflict(WorkflowError):
    """The request has moved past the state this action needs (a repeated click, a stale page)."""


@dataclass(frozen=True)
class RequestDraft:
    app_name: str
    subdomain: str
    stack: str
    description: str = ""
    contact: str = ""
    needs_database: bool = False  # a MariaDB database of its own on its host


def ensure_builtin_templates() -> None:
    """Store version 1 of each built-in SOP template that the database does not have yet."""
    known = set(db.session.scalars(select(SopTemplateVersion.key)))
    for key, definition in sop.builtin_definitions().items():
        if key not in known:
            template = sop.parse(definition)
            db.session.add(SopTemplateVersion(key=key, version=1, name=template.name,
                                              definition=definition))
    db.session.flush()


def latest_version(key: str) -> SopTemplateVersion:
    version = db.session.scalar(
        select(SopTemplateVersion).where(SopTemplateVersion.key == key)
        .order_by(SopTemplateVersion.version.desc()).limit(1)
    )
    if version is None:
        raise WorkflowError(_("templat SOP %(key)s tidak ada (jalankan `wadah db upgrade`)", key=repr(key)))
    return version


def current_templates() -> list[tuple[int, sop.SopTemplate]]:
    """Return each stored template's latest version number and parsed definition, by key."""
    latest: dict[str, SopTemplateVersion] = {}
    for version in db.session.scalars(select(SopTemplateVersion).order_by(SopTemplateVersion.version)):
        latest[version.key] = version
    return [(v.version, sop.parse(v.definition)) for _key, v in sorted(latest.items())]


def template_of(request: HostingRequest) -> sop.SopTemplate:
    return sop.parse(request.template_version.definition)


def submit(
    user: User, opd: Opd, draft: RequestDraft, template_key: str, number_pattern: str
) -> HostingRequest:
    """File a hosting request for `opd` and open the SOP's first step after submission."""
    version = latest_version(template_key)
    template = sop.parse(version.definition)
    request = HostingRequest(
        opd=opd, submitted_by=user, app_name=draft.app_name, subdomain=draft.subdomain,
        stack=draft.stack, description=draft.description, contact=draft.contact,
        needs_database=draft.needs_database, template_version=version, status=RequestStatus.SUBMITTED,
        submitted_at=utcnow(),
    )
    db.session.add(request)
    _assign_number(request, number_pattern)
    first = template.steps[0]
    submission = _open_step(request, first)
    submission.finished_at, submission.actor = utcnow(), user
    audit.record("request.submit", request, number=request.number, template=version.key)
    _open_step(request, template.step(template.next_key(first.key)))
    return request


def act(request: HostingRequest, user: User, decision: str | None = None, note: str = "") -> RequestStep:
    """Finish the request's current step as `user`, then open the step its decision leads to."""
    step = current_step(request)
    if not user.has_role(step.role, RoleKey.SUPERADMIN):
        raise WorkflowError(_("Langkah ini bukan tugas peran Anda."))
    template = template_of(request)
    branches = template.step(step.step_key).branches
    if branches and decision not in branches:
        raise WorkflowError(_("Pilih keputusan untuk langkah ini: %(decisions)s.",
                               decisions=", ".join(sorted(branches))))
    following = template.next_key(step.step_key, decision)
    # Kelengkapan holds a step that goes forward; a refusal or a return for correction needs none.
    forward = following != sop.EndState.REJECTED and (
        following == sop.EndState.DONE or template.step(following).action != sop.StepAction.SUBMIT)
    missing = ((step_outputs.missing_documents(request, template.step(step.step_key)) if forward else None)
               or missing_output(request, template.step(step.step_key), decision))
    if missing:
        raise WorkflowError(missing)
    step.finished_at, step.actor, step.decision, step.note = utcnow(), user, decision, note
    audit.record("request.step", request, step=step.step_key, decision=decision)
    if following == sop.EndState.REJECTED:
        request.status, request.current_step = RequestStatus.REJECTED, None
        events.request_ended.send(request)
    elif following == sop.EndState.DONE:
        request.status, request.current_step = RequestStatus.CLOSED, None
        events.request_ended.send(request)
    else:
        next_step = template.step(following)
        request.status = _open_status(request, template.step(step.step_key), next_step)
        _open_step(request, next_step)
    return step


def _open_status(request: HostingRequest, finished: sop.SopStep, following: sop.SopStep) -> RequestStatus:
    if following.action == sop.StepAction.SUBMIT:
        return RequestStatus.NEEDS_CORRECTION
    # The deploy step finishes only once the app is live with its Web Panel login: from then on the
    # request reads "deployed" (lists, reports, API) while the SOP's reporting steps run to CLOSED.
    if finished.action == sop.StepAction.DEPLOY or request.status == RequestStatus.DEPLOYED:
        return RequestStatus.DEPLOYED
    return RequestStatus.IN_PROGRESS


def missing_output(request: HostingRequest, step: sop.SopStep, decision: str | None = None) -> str | None:
    """Return why a step whose system action has not produced its output cannot finish yet."""
    return step_outputs.missing(request, step.action, decision)


def expect_with_opd(request: HostingRequest) -> None:
    """Raise RequestStateConflict unless the request waits on its OPD (to fix it or choose a name)."""
    if request.status != RequestStatus.NEEDS_CORRECTION:
        raise RequestStateConflict(_("Permohonan ini sedang tidak menunggu perbaikan dari OPD."))


def return_to_opd(request: HostingRequest, reason: str) -> None:
    """Send a request whose subdomain turned out taken back to its OPD to choose another."""
    if request.status not in OPEN_STATUSES:
        raise RequestStateConflict(_("Permohonan ini sudah selesai."))
    request.status = RequestStatus.NEEDS_CORRECTION
    audit.record("request.returned", request, step=request.current_step, reason=reason)


def change_subdomain(request: HostingRequest, user: User, subdomain: str) -> None:
    """Record the subdomain the OPD chose instead; at the allocation step the request goes back to work."""
    expect_with_opd(request)
    old, request.subdomain = request.subdomain, subdomain
    step = current_step(request)
    if template_of(request).step(step.step_key).action != sop.StepAction.SUBMIT:
        request.status = RequestStatus.IN_PROGRESS  # the technician may retry the allocation
    audit.record("request.subdomain", request, actor=user, old=old, new=subdomain)


def withdraw(request: HostingRequest, user: User, reason: str) -> None:
    """Close an open request at its OPD's wish, with the reason written down."""
    _end(request, user, RequestStatus.WITHDRAWN, "ditarik", reason)
    audit.record("request.withdraw", request, actor=user, reason=reason.strip())


def reject(request: HostingRequest, user: User, reason: str) -> None:
    """Refuse an open request (e.g. a bundle that stays infected) with a written reason."""
    if not user.has_role(RoleKey.COORDINATOR, RoleKey.SUPERADMIN):
        raise WorkflowError(_("Hanya Sub Koordinator yang dapat menolak permohonan."))
    _end(request, user, RequestStatus.REJECTED, "tidak", reason)
    audit.record("request.reject", request, actor=user, reason=reason.strip())


def reopen_scan(request: HostingRequest, user: User) -> bool:
    """Make the scan step current again when a new bundle arrives after it; return whether it did."""
    template = template_of(request)
    keys = [step.key for step in template.steps]
    scan = next(step for step in template.steps if step.action == sop.StepAction.SCAN)
    step = current_step(request)
    if keys.index(step.step_key) <= keys.index(scan.key):
        return False  # the scan has not run yet: it will scan the new bundle
    step.finished_at, step.actor, step.decision = utcnow(), user, "pindai_ulang"
    step.note = "Berkas aplikasi diganti: pemindaian diulang."
    request.status = RequestStatus.IN_PROGRESS
    audit.record("request.rescan", request, actor=user, step=step.step_key)
    _open_step(request, scan)
    return True


def _end(request: HostingRequest, user: User, status: RequestStatus, decision: str, reason: str) -> None:
    if request.status not in OPEN_STATUSES:
        raise RequestStateConflict(_("Permohonan ini sudah tidak terbuka."))
    if not reason.strip():
        raise WorkflowError(_("Alasan wajib diisi."))
    step = current_step(request)
    step.finished_at, step.actor, step.decision, step.note = utcnow(), user, decision, reason.strip()
    request.status, request.current_step = status, None
    db.session.flush()
    events.request_ended.send(request)


def dispose(request: HostingRequest, user: User, to_role: RoleKey, note: str,
            to_user: User | None = None) -> Disposition:
    """Record a written disposition passing the request to `to_role` (or one person of it)."""
    current_step(request)  # a closed request takes no dispositions
    disposition = Disposition(request_id=request.id, from_user_id=user.id, to_role=to_role,
                              to_user_id=to_user.id if to_user else None, note=note)
    db.session.add(disposition)
    audit.record("request.dispose", request, to_role=to_role)
    return disposition


def comment(request: HostingRequest, user: User, body: str) -> Comment:
    """Add a message to the request's coordination thread with the OPD."""
    message = Comment(request_id=request.id, author_id=user.id, body=body)
    db.session.add(message)
    audit.record("request.comment", request)
    return message


def current_step(request: HostingRequest) -> RequestStep:
    open_steps = [step for step in request.steps if step.finished_at is None]
    if not open_steps:
        raise WorkflowError(_("Permohonan ini sudah selesai."))
    return open_steps[-1]


def _open_step(request: HostingRequest, step: sop.SopStep) -> RequestStep:
    due = int(step.waktu.total_seconds() // 60) if step.waktu else None
    # Its start is set here, not at flush, so its working-time deadline is fixed with it (working_time).
    opened = RequestStep(step_key=step.key, role=step.role, due_minutes=due, started_at=utcnow())
    request.steps.append(opened)
    request.current_step = step.key
    db.session.flush()
    events.step_opened.send(opened)
    return opened


def _assign_number(request: HostingRequest, pattern: str) -> None:
    # A yearly sequence; the unique (year, seq) constraint settles two submissions racing for one.
    year = (request.submitted_at or utcnow()).year
    for _attempt in range(5):
        last = db.session.scalar(select(func.max(HostingRequest.seq)).where(HostingRequest.year == year))
        request.year, request.seq = year, (last or 0) + 1
        request.number = pattern.format(seq=request.seq, year=year)
        try:
            with db.session.begin_nested():
                db.session.flush()
            return
        except IntegrityError:
            continue
    raise WorkflowError(_("Nomor permohonan tidak dapat dibuat; coba lagi."))
