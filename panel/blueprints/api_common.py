"""What the JSON API's route modules share: the blueprint, its one error shape, reading input, and
how each object is represented."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

from flask import Blueprint, jsonify, request
from werkzeug.datastructures import FileStorage

from panel.extensions import csrf, db
from panel.i18n import gettext as _
from panel.models import (
    App,
    AppEnvVar,
    AppUpload,
    Job,
    RoleKey,
)
from panel.permissions import (
    DATA_CENTER_ROLES,
    require_app_access,
)
from panel.services.apps import app_operations
from panel.services.requests import hosting_requests

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookie authenticates here, so there is nothing for a forged form to ride on

READERS = (RoleKey.OPD_ADMIN, *DATA_CENTER_ROLES)
# Who acts on an app through the API (an OPD's own CI): its agency's administrators and technicians.
APP_API_ACTORS = (RoleKey.OPD_ADMIN, RoleKey.TECHNICIAN)
MAX_PAGE = 100


def error_body(status: int, code: str, message: str, **extra: Any) -> Any:
    return jsonify({"error": {"status": status, "code": code, "message": message, **extra}}), status


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def text_field(body: Mapping[str, Any], name: str, max_length: int, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > max_length or (required and not value.strip()):
        raise BadInput(name, _("wajib berupa teks 1–%(max)d karakter", max=max_length) if required
                        else _("berupa teks paling banyak %(max)d karakter", max=max_length))
    return value


def flag_field(body: Mapping[str, Any], name: str) -> bool:
    """Read a yes/no field of a form: absent is no; anything but true/false (1/0) is refused."""
    value = str(body.get(name, "false")).lower()
    if value not in ("true", "false", "1", "0"):
        raise BadInput(field=name, problem=_("berupa true atau false"))
    return value in ("true", "1")


class BadInput(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


@bp.errorhandler(BadInput)
def bad_input(error: BadInput) -> Any:
    return error_body(400, "invalid_input", _("Isian tidak sah: %(error)s", error=str(error)),
                       fields={error.field: error.problem})


def iso_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite returns naive datetimes, stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def job_body(job: Job, app_job: bool = False) -> dict[str, Any]:
    body = {"id": job.id, "kind": job.kind, "status": str(job.status), "progress": job.progress,
            "message": job.message, "error": job.error, "created_at": iso_time(job.created_at),
            "finished_at": iso_time(job.finished_at)}
    if app_job:  # what an app's job found; a sealed secret never leaves here
        body["result"] = {k: v for k, v in (job.result or {}).items() if k != "sealed"}
    return body


def launched(job: Job) -> dict[str, Any]:
    db.session.refresh(job)  # a worker may have moved it on already, in its own session
    return job_body(job, app_job=True)


def upload_body(upload: AppUpload) -> dict[str, Any]:
    return {"id": upload.id, "status": str(upload.status), "reason": upload.reason,
            "release": upload.release.number if upload.release else None,
            "verdict": upload.scan_report.verdict if upload.scan_report else None}


def variable_body(var: AppEnvVar) -> dict[str, Any]:
    # Names only: values are read on the Web Panel, where each reveal is audited.
    return {"name": var.name, "removed": var.removed, "pending": app_operations.env_pending(var),
            "updated_at": iso_time(var.updated_at), "applied_at": iso_time(var.applied_at)}


def app_body(app: App) -> dict[str, Any]:
    live = app.live_release
    return {"id": app.id, "name": app.name, "fqdn": app.fqdn, "stack": str(app.stack),
            "needs_database": app.needs_database, "storage_mb": app.storage_mb,
            "status": str(app.status), "opd": app.opd.code, "host": app.host.name if app.host else None,
            "ip": app.ip, "live_release": live.number if live else None,
            "removed_at": iso_time(app.removed_at), "removal_reason": app.removal_reason,
            "removal_dump": app.removal_dump, "external_url": app.external_url,
            "external_server": app.external_server}


def received(file: FileStorage) -> hosting_requests.Upload:
    """Wrap an uploaded file for the request services."""
    # Werkzeug types FileStorage.stream as IO[bytes]; it is always a binary file object.
    return hosting_requests.Upload(file.filename or "", cast(BinaryIO, file.stream))


def page_size() -> int:
    try:
        return max(1, min(MAX_PAGE, int(request.args.get("limit", 25))))
    except ValueError:
        raise BadInput(field="limit", problem=_("bilangan bulat 1–100")) from None


def before_id() -> int | None:
    raw = request.args.get("before")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadInput(field="before", problem=_("id bilangan bulat"))
    return int(raw)


def app_for(app_id: int) -> App:
    """Return the app `app_id` if the caller may see it (404 otherwise)."""
    return require_app_access(db.get_or_404(App, app_id))
