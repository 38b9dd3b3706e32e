"""The JSON API under /api/v1: one error shape, never HTML.

Callers authenticate with a personal API token (`Authorization: Bearer wadah_...`); the API reads
no session cookie, so a browser cannot be tricked into calling it. Every action goes through the
same functions as the web pages (`panel.actions`, `panel.services`). The contract is the
OpenAPI document in `panel/openapi.yaml`, served at /api/v1/openapi.json.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, cast

import yaml
from flask import Blueprint, Flask, current_app, jsonify, request, send_file
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException

from panel import gateway, jobs, storage
from panel import health as panel_health
from panel.actions import apps as app_actions
from panel.actions import requests as request_actions
from panel.extensions import csrf, db, limiter, login_manager
from panel.i18n import gettext as _
from panel.models import (
    App,
    AppEnvVar,
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
    DATA_CENTER_ROLES,
    REQUEST_PARTICIPANTS,
    login_required,
    public,
    require_app_access,
    require_request_access,
    require_role,
    visible_apps,
    visible_requests,
)
from panel.services.accounts import api_tokens
from panel.services.apps import app_operations, external_apps
from panel.services.infra import hosts
from panel.services.infra.enrolment import EnrolmentRefused
from panel.services.infra.gateway import AgentUnavailable
from panel.services.releases import scanning
from panel.services.requests import hosting_requests, kelengkapan, sla, workflow

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookie authenticates here, so there is nothing for a forged form to ride on

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
READERS = (RoleKey.OPD_ADMIN, *DATA_CENTER_ROLES)
# Who acts on an app through the API (an OPD's own CI): its agency's administrators and technicians.
APP_API_ACTORS = (RoleKey.OPD_ADMIN, RoleKey.TECHNICIAN)
MAX_PAGE = 100


def _is_api(path: str) -> bool:
    return path.startswith(bp.url_prefix or "/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _error(error: HTTPException) -> Any:
        # Unmatched /api/ URLs have no blueprint, so the shape is chosen by path, not by blueprint.
        if not _is_api(request.path):
            return error
        code = (error.name or "error").lower().replace(" ", "_")
        return _error_body(error.code or 500, code, error.description or "")


@login_manager.request_loader
def _user_from_token(incoming: Any) -> User | None:
    if not _is_api(incoming.path):
        return None
    return api_tokens.user_for(incoming.headers.get("Authorization"),
                               max_days=current_app.config["API_TOKEN_MAX_DAYS"],
                               second_factor_roles=current_app.config["TOTP_REQUIRED_ROLES"])


def _error_body(status: int, code: str, message: str, **extra: Any) -> Any:
    return jsonify({"error": {"status": status, "code": code, "message": message, **extra}}), status


def _refused(error: Exception) -> Any:
    # Every domain refusal a request action raises answers 422 (409 for a job already running).
    db.session.rollback()
    if isinstance(error, jobs.JobAlreadyRunning):
        return _error_body(409, "job_running", str(error))
    if isinstance(error, app_actions.AlreadyRemoved):
        return _error_body(409, "app_removed", str(error))
    if isinstance(error, workflow.RequestStateConflict):
        return _error_body(409, "conflict", str(error))
    if isinstance(error, hosting_requests.SubmissionKeyReused):
        return _error_body(422, "idempotency_key_reused", str(error))
    return _error_body(422, "refused", str(error))


for _refusal in (*request_actions.REFUSALS, *app_actions.REFUSALS):
    bp.register_error_handler(_refusal, _refused)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _text(body: Mapping[str, Any], name: str, max_length: int, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > max_length or (required and not value.strip()):
        raise _BadInput(name, _("wajib berupa teks 1–%(max)d karakter", max=max_length) if required
                        else _("berupa teks paling banyak %(max)d karakter", max=max_length))
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    """Read a yes/no field of a form: absent is no; anything but true/false (1/0) is refused."""
    value = str(body.get(name, "false")).lower()
    if value not in ("true", "false", "1", "0"):
        raise _BadInput(field=name, problem=_("berupa true atau false"))
    return value in ("true", "1")


class _BadInput(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


@bp.errorhandler(_BadInput)
def _bad_input(error: _BadInput) -> Any:
    return _error_body(400, "invalid_input", _("Isian tidak sah: %(error)s", error=str(error)),
                       fields={error.field: error.problem})


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
        return _error_body(503, "no_ca", str(unavailable))
    except (EnrolmentRefused, hosts.HostRefused) as refused:
        db.session.rollback()
        code = getattr(refused, "code", "host_unknown")
        return _error_body(400 if code == "malformed_request" else 403, code, str(refused))
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
        return _error_body(413, "too_large", _("Permintaan pembaruan terlalu besar."))
    try:
        renewed = gateway.agents().renew(dict(request.headers.items()),
                                         request.get_data(cache=False))
    except AgentUnavailable as unavailable:
        return _error_body(503, "no_ca", str(unavailable))
    except EnrolmentRefused as refused:
        db.session.commit()  # only the refusal's audit event, if the host was known
        status = 400 if refused.code in UNREADABLE_RENEWALS else 403
        return _error_body(status, refused.code, str(refused))
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


def _page_size() -> int:
    try:
        return max(1, min(MAX_PAGE, int(request.args.get("limit", 25))))
    except ValueError:
        raise _BadInput(field="limit", problem=_("bilangan bulat 1–100")) from None


def _before() -> int | None:
    raw = request.args.get("before")
    if raw is None:
        return None
    if not raw.isdigit():
        raise _BadInput(field="before", problem=_("id bilangan bulat"))
    return int(raw)


@bp.get("/requests")
@require_role(*READERS)
def list_requests() -> Any:
    limit, before = _page_size(), _before()
    query = (select(HostingRequest).where(visible_requests(current_user))
             .options(selectinload(HostingRequest.opd)))
    status = request.args.get("status")
    if status is not None:
        if status not in set(RequestStatus):
            raise _BadInput(field="status",
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
        app_name=_text(form, "app_name", 200, required=True),
        subdomain=_text(form, "subdomain", 63, required=True).strip(),
        stack=_text(form, "stack", 16, required=True),
        description=_text(form, "description", 2000), contact=_text(form, "contact", 200),
        needs_database=_flag(form, "needs_database"))
    recommendation, template = _text(form, "rekomendasi", 80), _text(form, "template", 64)
    letters = {kind.value: _received(upload)
               for kind in AttachmentKind if (upload := request.files.get(f"letter_{kind.value}"))}
    bundle = request.files.get("bundle")
    # A retried POST with the same Idempotency-Key and content returns the request the first one filed.
    key = request.headers.get("Idempotency-Key") or secrets.token_urlsafe(24)
    if len(key) > 64:
        raise _BadInput(field="Idempotency-Key", problem=_("paling banyak %(max)d karakter", max=64))
    filed = request_actions.file_request(
        current_user, draft, letters,
        _received(bundle) if bundle else None, key, recommendation, template or None)
    db.session.commit()
    return _request_detail(filed), 201


@bp.get("/requests/<int:request_id>")
@require_role(*READERS)
def get_request(request_id: int) -> Any:
    return _request_detail(_load(request_id))


@bp.patch("/requests/<int:request_id>")
@require_role(RoleKey.OPD_ADMIN)
def change_request(request_id: int) -> Any:
    hosting_request, body = _load(request_id), _json_body()
    if set(body) != {"subdomain"}:
        raise _BadInput(field="subdomain", problem=_("hanya sub-domain yang dapat diubah"))
    request_actions.change_subdomain(hosting_request, current_user,
                                     _text(body, "subdomain", 63, required=True).strip())
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/withdrawal")
@require_role(RoleKey.OPD_ADMIN)
def withdraw(request_id: int) -> Any:
    hosting_request = _load(request_id)
    reason = _text(_json_body(), "reason", 2000, required=True)
    request_actions.withdraw(hosting_request, current_user, reason)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/rejection")
@require_role(RoleKey.COORDINATOR)
def reject(request_id: int) -> Any:
    hosting_request = _load(request_id)
    reason = _text(_json_body(), "reason", 2000, required=True)
    request_actions.reject(hosting_request, current_user, reason)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/step")
@require_role(*REQUEST_PARTICIPANTS)
def act(request_id: int) -> Any:
    hosting_request, body = _load(request_id), _json_body()
    decision = body.get("decision")
    if decision is not None and not isinstance(decision, str):
        raise _BadInput(field="decision", problem=_("teks"))
    note = _text(body, "note", 2000)
    workflow.act(hosting_request, current_user, decision or None, note)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/dispositions")
@require_role(RoleKey.HEAD, RoleKey.COORDINATOR)
def dispose(request_id: int) -> Any:
    hosting_request, body = _load(request_id), _json_body()
    to_role = body.get("to_role")
    if to_role not in (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN):
        raise _BadInput(field="to_role", problem=_("%(values)s atau %(last)s", values="head, coordinator",
                                                    last="technician"))
    note = _text(body, "note", 2000, required=True)
    workflow.dispose(hosting_request, current_user, RoleKey(to_role), note)
    db.session.commit()
    return _request_detail(hosting_request), 201


@bp.post("/requests/<int:request_id>/comments")
@require_role(*REQUEST_PARTICIPANTS)
def comment(request_id: int) -> Any:
    hosting_request = _load(request_id)
    posted = workflow.comment(hosting_request, current_user, _text(_json_body(), "body", 4000, required=True))
    db.session.commit()
    return {"id": posted.id, "author": current_user.username, "body": posted.body,
            "created_at": _time(posted.created_at)}, 201


@bp.get("/requests/<int:request_id>/attachments/<int:attachment_id>")
@require_role(*READERS)
def attachment(request_id: int, attachment_id: int) -> Any:
    hosting_request = _load(request_id)
    document = db.session.get(Attachment, attachment_id)
    if document is None or document.request_id != hosting_request.id:
        return _error_body(404, "not_found", _("Lampiran tidak ditemukan."))
    return send_file(storage.attachments().path(document.sha256), mimetype="application/pdf",
                     as_attachment=True, download_name=document.filename)


@bp.post("/requests/<int:request_id>/scan")
@require_role(RoleKey.TECHNICIAN)
def scan(request_id: int) -> Any:
    job = request_actions.start_scan(_load(request_id), current_user)
    return _job(job), 202


@bp.post("/requests/<int:request_id>/review-acceptance")
@require_role(RoleKey.TECHNICIAN)
def accept_review(request_id: int) -> Any:
    hosting_request = _load(request_id)
    reason = _text(_json_body(), "reason", 2000, required=True)
    request_actions.accept_review(hosting_request, current_user, reason)
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/bundle")
@require_role(RoleKey.OPD_ADMIN, RoleKey.TECHNICIAN)
def replace_bundle(request_id: int) -> Any:
    hosting_request = _load(request_id)
    bundle = request.files.get("bundle")
    if bundle is None:
        raise _BadInput(field="bundle", problem=_("berkas aplikasi (.zip, .tar.gz) wajib dikirim"))
    request_actions.replace_bundle(hosting_request, current_user, _received(bundle))
    db.session.commit()
    return _request_detail(hosting_request)


@bp.post("/requests/<int:request_id>/allocation")
@require_role(RoleKey.TECHNICIAN)
def allocate(request_id: int) -> Any:
    job = request_actions.start_allocation(_load(request_id), current_user)
    return _job(job), 202


@bp.post("/requests/<int:request_id>/deployment")
@require_role(RoleKey.TECHNICIAN)
def deploy(request_id: int) -> Any:
    job = request_actions.start_deploy(_load(request_id), current_user)
    return _job(job), 202


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


@bp.get("/jobs/<int:job_id>")
@require_role(*READERS)
def get_job(job_id: int) -> Any:
    job = db.get_or_404(Job, job_id)
    if not (job.target_id or "").isdigit():
        return _error_body(404, "not_found", _("Pekerjaan tidak ditemukan."))
    # A job is visible to whoever may see what it works on: a request, an app, or an app's upload.
    if job.target_type == "HostingRequest":
        _load(int(job.target_id or 0))
        return _job(job)
    if job.target_type == "AppUpload":
        upload = db.get_or_404(AppUpload, int(job.target_id or 0))
        require_app_access(upload.app)
        return _job(job, app_job=True)
    if job.target_type == "App":
        app = _app_for(int(job.target_id or 0))
        body = _job(job, app_job=True)
        if job.kind == app_actions.DATABASE_PASSWORD and job.status == JobStatus.SUCCEEDED:
            # Shown once, to the user who asked, then forgotten by the panel (as on the Web Panel).
            password = app_actions.take_database_password(app, current_user, job)
            db.session.commit()
            body["result"] = {"password": password, "expired": password is None}
            return body, 200, {"Cache-Control": "no-store"}
        return body
    return _error_body(404, "not_found", _("Pekerjaan tidak ditemukan."))


@bp.get("/apps")
@login_required
def list_apps() -> Any:
    limit, before = _page_size(), _before()
    query = (select(App).where(visible_apps(current_user))
             .options(selectinload(App.opd), selectinload(App.host), selectinload(App.releases)))
    if before is not None:
        query = query.where(App.id < before)
    rows = db.session.scalars(query.order_by(App.id.desc()).limit(limit + 1)).all()
    return {"items": [_app(a) for a in rows[:limit]],
            "next_before": rows[limit - 1].id if len(rows) > limit else None}


@bp.post("/apps")
@require_role(RoleKey.TECHNICIAN)
def record_app() -> Any:
    body = _json_body()
    if body.get("external") is not True:
        raise _BadInput(field="external", problem=_(
            "hanya aplikasi eksternal (true) yang dicatat di sini; aplikasi baru diajukan lewat permohonan"))
    opd_id = body.get("opd_id")
    if isinstance(opd_id, bool) or not isinstance(opd_id, int):
        raise _BadInput(field="opd_id", problem=_("id bilangan bulat"))
    entry = external_apps.ExternalApp(
        name=_text(body, "name", 40, required=True), url=_text(body, "url", 255, required=True),
        opd_id=opd_id, server=_text(body, "server", 200, required=True),
        stack=_text(body, "stack", 16, required=True))
    recorded = app_actions.record_external(entry, current_user)
    db.session.commit()
    return _app(recorded), 201


@bp.get("/apps/<int:app_id>")
@login_required
def get_app(app_id: int) -> Any:
    return _app(require_app_access(db.get_or_404(App, app_id)))


@bp.delete("/apps/<int:app_id>")
@require_role(RoleKey.TECHNICIAN)
def remove_app(app_id: int) -> Any:
    app = _app_for(app_id)
    reason = _json_body().get("reason", "")
    if not isinstance(reason, str):
        raise _BadInput(field="reason", problem=_("teks"))
    return _launched(app_actions.start_removal(app, current_user, reason)), 202


@bp.post("/apps/<int:app_id>/<action>")
@require_role(*APP_API_ACTORS)
def control_app(app_id: int, action: str) -> Any:
    app = _app_for(app_id)
    if action not in ("start", "stop", "restart"):
        return _error_body(404, "not_found", _("Tindakan tidak dikenal: %(action)s", action=action))
    return _launched(app_actions.start_control(app, current_user, action)), 202


@bp.post("/apps/<int:app_id>/rollback")
@require_role(*APP_API_ACTORS)
def rollback_app(app_id: int) -> Any:
    return _launched(app_actions.start_rollback(_app_for(app_id), current_user)), 202


@bp.post("/apps/<int:app_id>/releases")
@require_role(*APP_API_ACTORS)
def upload_release(app_id: int) -> Any:
    app = _app_for(app_id)
    bundle = request.files.get("bundle")
    if bundle is None:
        raise _BadInput(field="bundle", problem=_("berkas aplikasi (.zip, .tar.gz) wajib dikirim"))
    upload = app_actions.receive_upload(app, current_user,
                                        _received(bundle))
    db.session.refresh(upload)
    job = jobs.latest(app_actions.UPLOAD, upload)
    body = _launched(job) if job else {}
    return {**body, "upload": _upload(upload)}, 202


@bp.get("/apps/<int:app_id>/logs")
@require_role(*APP_API_ACTORS)
def app_logs(app_id: int) -> Any:
    try:
        lines = int(request.args.get("lines", app_operations.LOG_LINES_DEFAULT))
    except ValueError:
        raise _BadInput(field="lines", problem=_("bilangan bulat")) from None
    # Reading the host's logs takes a job; its result (GET /jobs/{id}) holds the lines.
    return _launched(app_actions.start_logs(_app_for(app_id), current_user, lines, follow=False)), 202


@bp.get("/apps/<int:app_id>/variables")
@require_role(*APP_API_ACTORS)
def app_variables(app_id: int) -> Any:
    app = _app_for(app_id)
    return {"items": [_variable(var) for var in app_operations.env_vars(app)]}


@bp.put("/apps/<int:app_id>/variables")
@require_role(*APP_API_ACTORS)
def set_app_variables(app_id: int) -> Any:
    app, body = _app_for(app_id), _json_body()
    wanted = body.get("variables")
    if not isinstance(wanted, dict) or not all(isinstance(v, str) for v in wanted.values()):
        raise _BadInput(field="variables", problem=_("objek nama → nilai teks"))
    # The whole set: the same rules as the Web Panel, one variable at a time, then applied on the host.
    current = app_operations.environment(app)
    for name in sorted(set(current) - set(wanted)):
        app_operations.remove_env_var(app, name, current_user)
    for name, value in sorted(wanted.items()):
        if current.get(name) != value:
            app_operations.set_env_var(app, name, value, current_user)
    db.session.commit()
    return _launched(app_actions.start_env_apply(app, current_user)), 202


@bp.post("/apps/<int:app_id>/database/password")
@require_role(*APP_API_ACTORS)
def reset_app_database_password(app_id: int) -> Any:
    return _launched(app_actions.start_database_password_reset(_app_for(app_id), current_user)), 202


@bp.post("/apps/<int:app_id>/login")
@require_role(RoleKey.TECHNICIAN)
def hand_over_login(app_id: int) -> Any:
    app = _app_for(app_id)
    username = _text(_json_body(), "username", 64).strip()
    account, password = app_actions.hand_over_login(app, current_user, username or None)
    db.session.commit()
    # The password is in this response only: never stored in clear, never in a log.
    return ({"url": f"http://{app.fqdn}/", "subdomain": app.fqdn, "username": account.user.username,
             "password": password, "must_change_password": True}, 200, {"Cache-Control": "no-store"})


def _app_for(app_id: int) -> App:
    return require_app_access(db.get_or_404(App, app_id))


# -- representations ------------------------------------------------------------------------------


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite returns naive datetimes, stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def _request_summary(r: HostingRequest) -> dict[str, Any]:
    return {"id": r.id, "number": r.number, "status": str(r.status), "app_name": r.app_name,
            "subdomain": r.subdomain, "stack": r.stack, "needs_database": r.needs_database, "opd": r.opd.code,
            "current_step": r.current_step, "submitted_at": _time(r.submitted_at)}


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
            "accepted": report.accepted_at is not None, "finished_at": _time(report.finished_at)},
        "app": _app(app) if app else None,
        "job": _job(job) if job else None,
        "attachments": [{"id": a.id, "kind": str(a.kind), "filename": a.filename, "sha256": a.sha256,
                         "size": a.size, "recommendation_of": referenced[a.id].number if a.id in referenced
                         else None} for a in r.attachments],
        "timeline": [{
            "step": row.step_key, "label": row.label, "role": row.role, "actor": row.actor,
            "started_at": _time(row.started_at), "finished_at": _time(row.finished_at),
            "decision": row.decision, "note": row.note, "state": str(row.timing.state),
            "elapsed_minutes": round(row.timing.elapsed_minutes, 1), "due_minutes": row.timing.due_minutes,
            "kelengkapan": [{"key": i.key, "label": i.label, "document": i.document, "present": i.present}
                            for i in kelengkapan.of_step(r, template.step(row.step_key))],
        } for row in sla.timeline(r, utcnow())],
    }


def _job(job: Job, app_job: bool = False) -> dict[str, Any]:
    body = {"id": job.id, "kind": job.kind, "status": str(job.status), "progress": job.progress,
            "message": job.message, "error": job.error, "created_at": _time(job.created_at),
            "finished_at": _time(job.finished_at)}
    if app_job:  # what an app's job found; a sealed secret never leaves here
        body["result"] = {k: v for k, v in (job.result or {}).items() if k != "sealed"}
    return body


def _launched(job: Job) -> dict[str, Any]:
    db.session.refresh(job)  # a worker may have moved it on already, in its own session
    return _job(job, app_job=True)


def _upload(upload: AppUpload) -> dict[str, Any]:
    return {"id": upload.id, "status": str(upload.status), "reason": upload.reason,
            "release": upload.release.number if upload.release else None,
            "verdict": upload.scan_report.verdict if upload.scan_report else None}


def _variable(var: AppEnvVar) -> dict[str, Any]:
    # Names only: values are read on the Web Panel, where each reveal is audited.
    return {"name": var.name, "removed": var.removed, "pending": app_operations.env_pending(var),
            "updated_at": _time(var.updated_at), "applied_at": _time(var.applied_at)}


def _app(app: App) -> dict[str, Any]:
    live = app.live_release
    return {"id": app.id, "name": app.name, "fqdn": app.fqdn, "stack": str(app.stack),
            "needs_database": app.needs_database, "storage_mb": app.storage_mb,
            "status": str(app.status), "opd": app.opd.code, "host": app.host.name if app.host else None,
            "ip": app.ip, "live_release": live.number if live else None,
            "removed_at": _time(app.removed_at), "removal_reason": app.removal_reason,
            "removal_dump": app.removal_dump, "external_url": app.external_url,
            "external_server": app.external_server}


def _received(file: FileStorage) -> hosting_requests.Upload:
    """Wrap an uploaded file for the request services."""
    # Werkzeug types FileStorage.stream as IO[bytes]; it is always a binary file object.
    return hosting_requests.Upload(file.filename or "", cast(BinaryIO, file.stream))
