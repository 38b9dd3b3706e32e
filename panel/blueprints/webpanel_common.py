"""What the Web Panel's route modules share: the blueprint, loading the app, and the page frame."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from panel import jobs
from panel.actions import apps as app_actions
from panel.extensions import db
from panel.i18n import lazy_gettext as _l
from panel.models import App, Job, ReleaseStatus, UploadStatus, User
from panel.permissions import (
    APP_MANAGERS,
    require_app_access,
)

bp = Blueprint("webpanel", __name__, url_prefix="/apps/<int:app_id>")
JOB_LABELS = {
    app_actions.CONTROL: _l("Tindakan"), app_actions.LOGS: _l("Log"),
    app_actions.ROLLBACK: _l("Kembali ke rilis sebelumnya"),
    app_actions.ENV: _l("Penerapan variabel lingkungan"), app_actions.DATABASE: _l("Rincian basis data"),
    app_actions.DATABASE_PASSWORD: _l("Pengaturan ulang kata sandi basis data"),
    app_actions.DOMAIN: _l("Pemeriksaan domain"), app_actions.UPLOAD: _l("Versi baru"),
    app_actions.STORAGE: _l("Batas penyimpanan"), app_actions.REMOVAL: _l("Penghapusan aplikasi"),
    app_actions.BACKUP: _l("Pencadangan"), app_actions.RESTORE: _l("Pemulihan cadangan"),
    app_actions.BACKUP_SCHEDULE: _l("Jadwal cadangan"),
}
LOG_SOURCE_LABELS = {"app": _l("Keluaran aplikasi"), "access": _l("Akses nginx"), "error": _l("Galat nginx")}
UPLOAD_STATUS_LABELS = {
    UploadStatus.SCANNING: _l("Sedang dipindai"), UploadStatus.REVIEW: _l("Menunggu tinjauan"),
    UploadStatus.BLOCKED: _l("Diblokir"), UploadStatus.DEPLOYING: _l("Sedang dipasang"),
    UploadStatus.DEPLOYED: _l("Terpasang"), UploadStatus.FAILED: _l("Gagal"),
}
RELEASE_STATUS_LABELS = {
    ReleaseStatus.PENDING: _l("Belum terpasang"), ReleaseStatus.LIVE: _l("Berjalan"),
    ReleaseStatus.FAILED: _l("Gagal"), ReleaseStatus.RETIRED: _l("Digantikan"),
}


def load_app(app_id: int) -> App:
    return require_app_access(db.get_or_404(App, app_id))


def render_page(template: str, app: App, tab: str, watched: list[Job | None], **context: Any) -> Any:
    busy = any(jobs.unfinished(job) for job in watched)
    return render_template(template, app=app, tab=tab, job_labels=JOB_LABELS,
                           upload_status_labels=UPLOAD_STATUS_LABELS,
                           release_status_labels=RELEASE_STATUS_LABELS,
                           can_manage=current_user.has_role(*APP_MANAGERS),
                           refresh_seconds=2 if busy else None, **context)


def require_posted() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


def show_refusal(error: Exception) -> None:
    db.session.rollback()
    flash(str(error), category="error")


def launch(app_id: int, start: Callable[[App, User], object], page: str) -> Any:
    """Start a job on the app from a posted form, then show `page` with its progress or refusal."""
    app = load_app(app_id)
    require_posted()
    try:
        start(app, current_user)  # type: ignore[arg-type]
    except app_actions.REFUSALS as refused:
        show_refusal(refused)
    return to_tab(page, app)


def to_tab(endpoint: str, app: App, anchor: str = "") -> Any:
    return redirect(url_for(f"webpanel.{endpoint}", app_id=app.id) + anchor)
