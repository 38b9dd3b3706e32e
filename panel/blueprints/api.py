"""The JSON API under /api/v1: one error shape, never HTML.

Callers authenticate with a personal API token (`Authorization: Bearer wadah_...`); the API reads
no session cookie, so a browser cannot be tricked into calling it. Every action goes through the
same functions as the web pages (`panel.actions`, `panel.services`). The contract is the
OpenAPI document in `panel/openapi.yaml`, served at /api/v1/openapi.json.
"""
from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, current_app, jsonify, request, send_file
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from panel import gateway, jobs, storage
from panel import health as panel_health
from panel.actions import apps as app_actions
from panel.actions import requests as request_actions
from panel.blueprints import api_apps  # noqa: F401 - registers the app routes on the same blueprint
from panel.blueprints.api_common import (
    READERS,
    BadInput,
    app_body,
    app_for,
    before_id,
    bp,
    error_body,
    flag_field,
    iso_time,
    job_body,
    json_body,
    page_size,
    received,
    text_field,
)
from panel.extensions import db, limiter, login_manager
from panel.i18n import gettext as _
from panel.models import (
    App,
    AppUpload,
    Attachment,
    AttachmentKind,
    HostingRequest,
    Job,
    JobStatus,
    RequestStatus,
    RoleKey,
    User,
)
from panel.models.base import utcnow
from panel.permissions import (
    REQUEST_PARTICIPANTS,
    login_required,
    public,
    require_app_access,
    require_request_access,
    require_role,
    visible_requests,
)
from panel.services.accounts import api_tokens
from panel.services.infra import hosts
from panel.services.infra.enrolment import EnrolmentRefused
from panel.services.infra.gateway import AgentUnavailable
from panel.services.releases import scanning
from panel.services.requests import hosting_requests, kelengkapan, sla, workflow

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


def _is_api(path: str) -> bool:
    return path.startswith(bp.url_prefix or "/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _error(error: HTTPException) -> Any:
        # Unmatched /api/ URLs have no blueprint, so the shape is chosen by path, not by blueprint.
        if not _is_api(request.path):
            return error
        code = (error.name or "error").lower().replace(" ", "_")
        return error_body(error.code or 500, code, error.description or "")


@login_manager.request_loader
def _user_from_token(incoming: Any) -> User | None:
    if not _is_api(incoming.path):
        return None
    return api_tokens.user_for(incoming.headers.get("Authorization"),
                               max_days=current_app.config["API_TOKEN_MAX_DAYS"],
                               second_factor_roles=current_app.config["TOTP_REQUIRED_ROLES"])


def _refused(error: Exception) -> Any:
    # Every domain refusal a request action raises answers 422 (409 for a job already running).
    db.session.rollback()
    if isinstance(error, jobs.JobAlreadyRunning):
        return error_body(409, "job_running", str(error))
    if isinstance(error, app_actions.AlreadyRemoved):
        return error_body(409, "app_removed", str(error))
    if isinstance(error, workflow.RequestStateConflict):
        return error_body(409, "conflict", str(error))
    if isinstance(error, hosting_requests.SubmissionKeyReused):
        return error_body(422, "idempotency_key_reused", str(error))
    return error_body(422, "refused", str(error))


for _refusal in (*request_actions.REFUSALS, *app_actions.REFUSALS):
    bp.register_error_handler(_refusal, _refused)


# -- public -------------------------------------------------------------------------------------


@bp.get("/health")
@public
def health() -> Any:
    # Public for load balancers and `wadah up`: it names what is down, never an address or a secret.
    found = panel_health.check()
    body = {
        "status": "ok" if found.ok else "unavailable",
        "down": found.down,
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in found.checks},
        "hosts": [{"name": host.name, "status": host.status, "fresh": host.fresh,
                   "last_seen_at": host.last_seen_at.isoformat(timespec="seconds")
                   if host.last_seen_at else None} for host in found.hosts],
    }
    return body, 200 if found.ok else 503


@bp.get("/openapi.json")
@public
def openapi() -> Any:
    return jsonify(openapi_document())


@cache
def openapi_document() -> dict[str, Any]:
    """Return the published OpenAPI document (read once per process)."""
    document: dict[str, Any] = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


@bp.post("/agents/enroll")
@public
@limiter.limit("10 per minute")
def enroll_agent() -> Any:
    # The one-time token is the credential: this is how a new host's agent gets its certificate.
    try:
        enrolled = gateway.agents().enrolments.redeem_request(request.get_json(silent=True))
        hosts.record_enrolment(enrolled)
    except AgentUnavailable as unavailable:  # no CA made yet: nothing to enrol with
        return error_body(503, "no_ca", str(unavailable))
    except (EnrolmentRefused, hosts.HostRefused) as refused:
        db.session.rollback()
        code = getattr(refused, "code", "host_unknown")
        return error_body(400 if code == "malformed_request" else 403, code, str(refused))
    db.session.commit()
    return enrolled.bundle.to_dict()


RENEWAL_MAX_BYTES = 64 * 1024  # a certificate and a CSR
UNREADABLE_RENEWALS = frozenset({"malformed_request", "unsigned_request", "content_mismatch"})


@bp.post("/agents/renew")
@public
@limiter.limit("10 per minute")
def renew_agent() -> Any:
    # The agent's current certificate's key signs the request: that key is the credential here.
    if (request.content_length or 0) > RENEWAL_MAX_BYTES or request.content_length is None:
        return error_body(413, "too_large", _("Permintaan pembaruan terlalu besar."))
    try:
        renewed = gateway.agents().renew(dict(request.headers.items()),
                                         request.get_data(cache=False))
    except AgentUnavailable as unavailable:
        return error_body(503, "no_ca", str(unavailable))
    except EnrolmentRefused as refused:
        db.session.commit()  # only the refusal's audit event, if the host was known
        status = 400 if refused.code in UNREADABLE_RENEWALS else 403
        return error_body(status, refused.code, str(refused))
    db.session.commit()
    return renewed.bundle.to_dict()


# -- who am I -------------------------------------------------------------------------------------


@bp.get("/me")
@login_required
def me() -> Any:
    return {
        "username": current_user.username,
        "full_name": current_user.full_name,
        "roles": sorted(current_user.role_keys),
        "opd": current_user.opd.code if current_user.opd else None,
    }


# -- hosting requests -----------------------------------------------------------------------------


def _load(request_id: int) -> HostingRequest:
    return require_request_access(db.get_or_404(HostingRequest, request_id))


@bp.get("/requests")
@require_role(*READERS)
def list_requests() -> Any:
    limit, before = page_size(), before_id()
    query = (select(HostingRequest).where(visible_requests(current_user))
             .options(selectinload(HostingRequest.opd)))
    status = request.args.get("status")
    if status is not None:
        if status not in set(RequestStatus):
            raise BadInput(field="status",
                            problem=_("salah satu dari %(values)s", values=", ".join(RequestStatus)))
        query = query.where(HostingRequest.status == status)
    if before is not None:
        query = query.where(HostingRequest.id < before)
    rows = db.session.scalars(query.order_by(HostingRequest.id.desc()).limit(limit + 1)).all()
    items = [_request_summary(r) for r in rows[:limit]]
    return {"items": items, "next_before": rows[limit - 1].id if len(rows) > limit else None}


@bp.post("/requests")
@require_role(RoleKey.OPD_ADMIN)
def file_request() -> Any:
    form = request.form
    draft = workflow.RequestDraft(
        app_name=text_field(form, "app_name", 200, required=True),
        subdomain=text_field(form, "subdomain", 63, required=True).strip(),
        stack=text_field(form, "stack", 16, required=True),
        description=text_field(form, "description", 2000), contact=text_field(form, "contact", 200),
        needs_database=flag_field(form, "needs_database"), needs_own_ip=flag_field(form, "needs_own_ip"))
    recommendation, template = text_field(form, "rekomendasi", 80), text_field(form, "template", 64)
    letters = {kind.value: received(upload)
               for kind in AttachmentKind if (upload := request.files.get(f"letter_{kind.value}"))}
    bundle = request.files.get("bundle")
    # A retried POST with the same Idempotency-Key and content returns the request the first one filed.
    key = request.headers.get("Idempotency-Key") or secrets.token_urlsafe(24)
    if len(key) > 64:
        raise BadInput(field="Idempotency-Key", problem=_("paling banyak %(max)d karakter", max=64))
    filed = request_actions.file_request(
        current_user, draft, letters,
        received(bundle) if bundle else None, key, recommendation, template or None)
    db.session.commit()
    return _request_detail(filed), 201


@bp.get("/requests/<int:request_id>")
@require_role(*READERS)
def get_request(request_id: int) -> Any:
    return _request_detail(_load(request_id))


@bp.patch("/requests/<int:request_id>")
@require_role(RoleKey.OPD_ADMIN)
def change_request(request_id: int) -> Any:
    hosting_request, body = _load(request_id), json_body()
    if set(body) != {"subdomain"}:
        raise BadInput(field="subdomain", problem=_("hanya sub-domain yang dapat diubah"))
    request_actions.change_subdomain(hosting_request, current_user,
                                     text_field(body, "subdomain", 63, required=True).strip())
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/withdrawal")
@require_role(RoleKey.OPD_ADMIN)
def withdraw(request_id: int) -> Any:
    hosting_request = _load(request_id)
    reason = text_field(json_body(), "reason", 2000, required=True)
    request_actions.withdraw(hosting_request, current_user, reason)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/rejection")
@require_role(RoleKey.COORDINATOR)
def reject(request_id: int) -> Any:
    hosting_request = _load(request_id)
    reason = text_field(json_body(), "reason", 2000, required=True)
    request_actions.reject(hosting_request, current_user, reason)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/step")
@require_role(*REQUEST_PARTICIPANTS)
def act(request_id: int) -> Any:
    hosting_request, body = _load(request_id), json_body()
    decision = body.get("decision")
    if decision is not None and not isinstance(decision, str):
        raise BadInput(field="decision", problem=_("teks"))
    note = text_field(body, "note", 2000)
    workflow.act(hosting_request, current_user, decision or None, note)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/dispositions")
@require_role(RoleKey.HEAD, RoleKey.COORDINATOR)
def dispose(request_id: int) -> Any:
    hosting_request, body = _load(request_id), json_body()
    to_role = body.get("to_role")
    if to_role not in (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN):
        raise BadInput(field="to_role", problem=_("%(values)s atau %(last)s", values="head, coordinator",
                                                    last="technician"))
    note = text_field(body, "note", 2000, required=True)
    workflow.dispose(hosting_request, current_user, RoleKey(to_role), note)
    db.session.commit()
    return _request_detail(hosting_request), 201


@bp.post("/requests/<int:request_id>/comments")
@require_role(*REQUEST_PARTICIPANTS)
def comment(request_id: int) -> Any:
    hosting_request = _load(request_id)
    body = text_field(json_body(), "body", 4000, required=True)
    posted = workflow.comment(hosting_request, current_user, body)
    db.session.commit()
    return {"id": posted.id, "author": current_user.username, "body": posted.body,
            "created_at": iso_time(posted.created_at)}, 201


@bp.get("/requests/<int:request_id>/attachments/<int:attachment_id>")
@require_role(*READERS)
def attachment(request_id: int, attachment_id: int) -> Any:
    hosting_request = _load(request_id)
    document = db.session.get(Attachment, attachment_id)
    if document is None or document.request_id != hosting_request.id:
        return error_body(404, "not_found", _("Lampiran tidak ditemukan."))
    return send_file(storage.attachments().path(document.sha256), mimetype="application/pdf",
                     as_attachment=True, download_name=document.filename)


@bp.post("/requests/<int:request_id>/scan")
@require_role(RoleKey.TECHNICIAN)
def scan(request_id: int) -> Any:
    job = request_actions.start_scan(_load(request_id), current_user)
    return job_body(job), 202


@bp.post("/requests/<int:request_id>/review-acceptance")
@require_role(RoleKey.TECHNICIAN)
def accept_review(request_id: int) -> Any:
    hosting_request = _load(request_id)
    reason = text_field(json_body(), "reason", 2000, required=True)
    request_actions.accept_review(hosting_request, current_user, reason)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/bundle")
@require_role(RoleKey.OPD_ADMIN, RoleKey.TECHNICIAN)
def replace_bundle(request_id: int) -> Any:
    hosting_request = _load(request_id)
    bundle = request.files.get("bundle")
    if bundle is None:
        raise BadInput(field="bundle", problem=_("berkas aplikasi (.zip, .tar.gz) wajib dikirim"))
    request_actions.replace_bundle(hosting_request, current_user, received(bundle))
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/allocation")
@require_role(RoleKey.TECHNICIAN)
def allocate(request_id: int) -> Any:
    job = request_actions.start_allocation(_load(request_id), current_user)
    return job_body(job), 202


@bp.post("/requests/<int:request_id>/deployment")
@require_role(RoleKey.TECHNICIAN)
def deploy(request_id: int) -> Any:
    job = request_actions.start_deploy(_load(request_id), current_user)
    return job_body(job), 202


@bp.post("/requests/<int:request_id>/web-panel-login")
@require_role(RoleKey.TECHNICIAN)
def issue_login(request_id: int) -> Any:
    hosting_request = _load(request_id)
    account, password = request_actions.issue_login(hosting_request, current_user)
    db.session.commit()
    # The password is in this response only: never stored in clear, never in a letter or a log.
    body = {"url": f"http://{account.app.fqdn}/", "subdomain": account.app.fqdn,
            "username": account.user.username, "password": password, "must_change_password": True}
    return body, 201, {"Cache-Control": "no-store"}


@bp.post("/requests/<int:request_id>/response-letter")
@require_role(RoleKey.COORDINATOR)
def response_letter(request_id: int) -> Any:
    hosting_request = _load(request_id)
    request_actions.write_response_letter(hosting_request, current_user)
    db.session.commit()
    return _request_detail(hosting_request), 201


@bp.post("/requests/<int:request_id>/recommendation-letter")
@require_role(RoleKey.COORDINATOR)
def recommendation_letter(request_id: int) -> Any:
    hosting_request = _load(request_id)
    request_actions.write_recommendation(hosting_request, current_user)
    db.session.commit()
    return _request_detail(hosting_request), 201


@bp.get("/sop-templates")
@require_role(*READERS)
def list_sop_templates() -> Any:
    return {"items": [{"key": t.key, "name": t.name, "kind": str(t.kind), "version": version,
                       "steps": len(t.steps)} for version, t in workflow.current_templates()]}


# -- jobs and apps --------------------------------------------------------------------------------


# -- representations ------------------------------------------------------------------------------


def _request_summary(r: HostingRequest) -> dict[str, Any]:
    return {"id": r.id, "number": r.number, "status": str(r.status), "app_name": r.app_name,
            "subdomain": r.subdomain, "stack": r.stack, "needs_database": r.needs_database,
            "needs_own_ip": r.needs_own_ip, "opd": r.opd.code,
            "current_step": r.current_step, "submitted_at": iso_time(r.submitted_at)}


def _request_detail(r: HostingRequest) -> dict[str, Any]:
    report = scanning.latest_report(r.artifact_sha256)
    app = db.session.scalar(select(App).where(App.request_id == r.id))
    job = request_actions.latest_job(r)
    template = workflow.template_of(r)
    referenced = kelengkapan.referenced(r)
    return {
        **_request_summary(r),
        "description": r.description, "contact": r.contact,
        "artifact_sha256": r.artifact_sha256,
        "scan": None if report is None else {
            "id": report.id, "verdict": report.verdict and str(report.verdict),
            "accepted": report.accepted_at is not None, "finished_at": iso_time(report.finished_at)},
        "app": app_body(app) if app else None,
        "job": job_body(job) if job else None,
        "attachments": [{"id": a.id, "kind": str(a.kind), "filename": a.filename, "sha256": a.sha256,
                         "size": a.size, "recommendation_of": referenced[a.id].number if a.id in referenced
                         else None} for a in r.attachments],
        "timeline": [{
            "step": row.step_key, "label": row.label, "role": row.role, "actor": row.actor,
            "started_at": iso_time(row.started_at), "finished_at": iso_time(row.finished_at),
            "decision": row.decision, "note": row.note, "state": str(row.timing.state),
            "elapsed_minutes": round(row.timing.elapsed_minutes, 1), "due_minutes": row.timing.due_minutes,
            "kelengkapan": [{"key": i.key, "label": i.label, "document": i.document, "present": i.present}
                            for i in kelengkapan.of_step(r, template.step(row.step_key))],
        } for row in sla.timeline(r, utcnow())],
    }


@bp.get("/jobs/<int:job_id>")
@require_role(*READERS)
def get_job(job_id: int) -> Any:
    job = db.get_or_404(Job, job_id)
    if not (job.target_id or "").isdigit():
        return error_body(404, "not_found", _("Pekerjaan tidak ditemukan."))
    # A job is visible to whoever may see what it works on: a request, an app, or an app's upload.
    if job.target_type == "HostingRequest":
        _load(int(job.target_id or 0))
        return job_body(job)
    if job.target_type == "AppUpload":
        upload = db.get_or_404(AppUpload, int(job.target_id or 0))
        require_app_access(upload.app)
        return job_body(job, app_job=True)
    if job.target_type == "App":
        app = app_for(int(job.target_id or 0))
        body = job_body(job, app_job=True)
        if job.kind == app_actions.DATABASE_PASSWORD and job.status == JobStatus.SUCCEEDED:
            # Shown once, to the user who asked, then forgotten by the panel (as on the Web Panel).
            password = app_actions.take_database_password(app, current_user, job)
            db.session.commit()
            body["result"] = {"password": password, "expired": password is None}
            return body, 200, {"Cache-Control": "no-store"}
        return body
    return error_body(404, "not_found", _("Pekerjaan tidak ditemukan."))
