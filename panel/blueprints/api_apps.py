"""The JSON API's app routes: inventory, an app's actions for its OPD's CI, backups and findings."""
from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from panel import gateway, jobs
from panel.actions import apps as app_actions
from panel.blueprints.api_common import (
    APP_API_ACTORS,
    BadInput,
    app_body,
    app_for,
    before_id,
    bp,
    error_body,
    iso_time,
    job_body,
    json_body,
    launched,
    page_size,
    received,
    text_field,
    upload_body,
    variable_body,
)
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import (
    App,
    Job,
    RoleKey,
)
from panel.permissions import (
    APP_MANAGERS,
    BACKUP_SCHEDULERS,
    login_required,
    require_app_access,
    require_role,
    visible_apps,
)
from panel.services.apps import app_operations, external_apps, recovery


@bp.get("/apps")
@login_required
def list_apps() -> Any:
    limit, before = page_size(), before_id()
    query = (select(App).where(visible_apps(current_user))
             .options(selectinload(App.opd), selectinload(App.host), selectinload(App.releases)))
    if before is not None:
        query = query.where(App.id < before)
    rows = db.session.scalars(query.order_by(App.id.desc()).limit(limit + 1)).all()
    return {"items": [app_body(a) for a in rows[:limit]],
            "next_before": rows[limit - 1].id if len(rows) > limit else None}


@bp.post("/apps")
@require_role(RoleKey.TECHNICIAN)
def record_app() -> Any:
    body = json_body()
    if body.get("external") is not True:
        raise BadInput(field="external", problem=_(
            "hanya aplikasi eksternal (true) yang dicatat di sini; aplikasi baru diajukan lewat permohonan"))
    opd_id = body.get("opd_id")
    if isinstance(opd_id, bool) or not isinstance(opd_id, int):
        raise BadInput(field="opd_id", problem=_("id bilangan bulat"))
    entry = external_apps.ExternalApp(
        name=text_field(body, "name", 40, required=True), url=text_field(body, "url", 255, required=True),
        opd_id=opd_id, server=text_field(body, "server", 200, required=True),
        stack=text_field(body, "stack", 16, required=True))
    recorded = app_actions.record_external(entry, current_user)
    db.session.commit()
    return app_body(recorded), 201


@bp.get("/apps/<int:app_id>")
@login_required
def get_app(app_id: int) -> Any:
    return app_body(require_app_access(db.get_or_404(App, app_id)))


@bp.delete("/apps/<int:app_id>")
@require_role(RoleKey.TECHNICIAN)
def remove_app(app_id: int) -> Any:
    app = app_for(app_id)
    reason = json_body().get("reason", "")
    if not isinstance(reason, str):
        raise BadInput(field="reason", problem=_("teks"))
    return launched(app_actions.start_removal(app, current_user, reason)), 202


@bp.post("/apps/<int:app_id>/<action>")
@require_role(*APP_API_ACTORS)
def control_app(app_id: int, action: str) -> Any:
    app = app_for(app_id)
    if action not in ("start", "stop", "restart"):
        return error_body(404, "not_found", _("Tindakan tidak dikenal: %(action)s", action=action))
    return launched(app_actions.start_control(app, current_user, action)), 202


@bp.post("/apps/<int:app_id>/rollback")
@require_role(*APP_API_ACTORS)
def rollback_app(app_id: int) -> Any:
    return launched(app_actions.start_rollback(app_for(app_id), current_user)), 202


@bp.post("/apps/<int:app_id>/releases")
@require_role(*APP_API_ACTORS)
def upload_release(app_id: int) -> Any:
    app = app_for(app_id)
    bundle = request.files.get("bundle")
    if bundle is None:
        raise BadInput(field="bundle", problem=_("berkas aplikasi (.zip, .tar.gz) wajib dikirim"))
    upload = app_actions.receive_upload(app, current_user,
                                        received(bundle))
    db.session.refresh(upload)
    job = jobs.latest(app_actions.UPLOAD, upload)
    body = launched(job) if job else {}
    return {**body, "upload": upload_body(upload)}, 202


@bp.get("/apps/<int:app_id>/logs")
@require_role(*APP_API_ACTORS)
def app_logs(app_id: int) -> Any:
    try:
        lines = int(request.args.get("lines", app_operations.LOG_LINES_DEFAULT))
    except ValueError:
        raise BadInput(field="lines", problem=_("bilangan bulat")) from None
    # Reading the host's logs takes a job; its result (GET /jobs/{id}) holds the lines.
    return launched(app_actions.start_logs(app_for(app_id), current_user, lines, follow=False)), 202


@bp.get("/apps/<int:app_id>/variables")
@require_role(*APP_API_ACTORS)
def app_variables(app_id: int) -> Any:
    app = app_for(app_id)
    return {"items": [variable_body(var) for var in app_operations.env_vars(app)]}


@bp.put("/apps/<int:app_id>/variables")
@require_role(*APP_API_ACTORS)
def set_app_variables(app_id: int) -> Any:
    app, body = app_for(app_id), json_body()
    wanted = body.get("variables")
    if not isinstance(wanted, dict) or not all(isinstance(v, str) for v in wanted.values()):
        raise BadInput(field="variables", problem=_("objek nama → nilai teks"))
    # The whole set: the same rules as the Web Panel, one variable at a time, then applied on the host.
    current = app_operations.environment(app)
    for name in sorted(set(current) - set(wanted)):
        app_operations.remove_env_var(app, name, current_user)
    for name, value in sorted(wanted.items()):
        if current.get(name) != value:
            app_operations.set_env_var(app, name, value, current_user)
    db.session.commit()
    return launched(app_actions.start_env_apply(app, current_user)), 202


@bp.post("/apps/<int:app_id>/database/password")
@require_role(*APP_API_ACTORS)
def reset_app_database_password(app_id: int) -> Any:
    return launched(app_actions.start_database_password_reset(app_for(app_id), current_user)), 202


@bp.post("/apps/<int:app_id>/login")
@require_role(RoleKey.TECHNICIAN)
def hand_over_login(app_id: int) -> Any:
    app = app_for(app_id)
    username = text_field(json_body(), "username", 64).strip()
    account, password = app_actions.hand_over_login(app, current_user, username or None)
    db.session.commit()
    # The password is in this response only: never stored in clear, never in a log.
    return ({"url": f"http://{app.fqdn}/", "subdomain": app.fqdn, "username": account.user.username,
             "password": password, "must_change_password": True}, 200, {"Cache-Control": "no-store"})


# -- an app's backups and findings ---------------------------------------------------------------


def _app_of(app_id: int) -> App:
    return require_app_access(db.get_or_404(App, app_id))


def _app_job_body(job: Job) -> dict[str, Any]:
    return {**job_body(job), "app_id": int(job.target_id or 0)}


@bp.errorhandler(recovery.AgentUnreachable)
def _agent_unreachable(error: recovery.AgentUnreachable) -> Any:
    db.session.rollback()
    return error_body(503, "agent_unavailable", str(error))


@bp.errorhandler(recovery.UnknownBackup)
def _unknown_backup(error: recovery.UnknownBackup) -> Any:
    db.session.rollback()
    return error_body(404, "unknown_backup", str(error))


@bp.get("/apps/<int:app_id>/backups")
@login_required
def list_backups(app_id: int) -> Any:
    return {"items": recovery.list_backups(_app_of(app_id), gateway.agents())}


@bp.post("/apps/<int:app_id>/backups")
@require_role(*APP_MANAGERS)
def take_backup(app_id: int) -> Any:
    job = app_actions.start_backup(_app_of(app_id), current_user)
    db.session.commit()
    return _app_job_body(job), 202


@bp.post("/apps/<int:app_id>/backups/<backup_id>/restore")
@require_role(*APP_MANAGERS)
def restore_backup(app_id: int, backup_id: str) -> Any:
    app = _app_of(app_id)
    into = json_body().get("into_app_id")
    if into is not None and (not isinstance(into, int) or isinstance(into, bool)):
        raise BadInput(field="into_app_id", problem=_("berupa id aplikasi (bilangan bulat) atau null"))
    if into is not None and into != app.id:  # another agency's app is not found, as on every route
        require_app_access(db.get_or_404(App, into))
    job = app_actions.start_restore(app, current_user, backup_id, into)
    db.session.commit()
    return _app_job_body(job), 202


@bp.put("/apps/<int:app_id>/backups/schedule")
@require_role(*BACKUP_SCHEDULERS)
def set_backup_schedule(app_id: int) -> Any:
    hours = json_body().get("hours")
    if not isinstance(hours, int) or isinstance(hours, bool):
        raise BadInput(field="hours", problem=_("berupa bilangan bulat jam (0: hanya bila diminta)"))
    job = app_actions.start_backup_schedule(_app_of(app_id), current_user, hours)
    db.session.commit()
    return _app_job_body(job), 202


@bp.get("/apps/<int:app_id>/findings")
@login_required
def list_findings(app_id: int) -> Any:
    return {"items": [{"id": f.id, "path": f.served_path, "rule": f.rule, "engine": f.engine,
                       "severity": f.severity, "detected_at": iso_time(f.detected_at),
                       "action": str(f.action)}
                      for f in recovery.findings_of(_app_of(app_id))]}

