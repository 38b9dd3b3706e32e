"""The Web Panel of one hosted app: what its app account sees, and its OPD admin and the data center too.

Everyone who may see the app reads these pages (`require_app_access`: anyone else gets 404); the app
account, its OPD admin, technicians and the platform administrator act on it. Every action that
touches the host is a job the page follows.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from panel import charts, jobs, storage
from panel.actions import apps as app_actions
from panel.extensions import db
from panel.formatting import jam
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.i18n import ngettext
from panel.models import App, AppUpload, Job, Release, ReleaseStatus, RoleKey, UploadStatus, User
from panel.models.base import utcnow
from panel.permissions import APP_MANAGERS, login_required, require_app_access, require_role
from panel.services.apps import app_operations
from panel.services.requests import hosting_requests

bp = Blueprint("webpanel", __name__, url_prefix="/apps/<int:app_id>")

JOB_LABELS = {
    app_actions.CONTROL: _l("Tindakan"), app_actions.LOGS: _l("Log"),
    app_actions.ROLLBACK: _l("Kembali ke rilis sebelumnya"),
    app_actions.ENV: _l("Penerapan variabel lingkungan"), app_actions.DATABASE: _l("Rincian basis data"),
    app_actions.DATABASE_PASSWORD: _l("Pengaturan ulang kata sandi basis data"),
    app_actions.DOMAIN: _l("Pemeriksaan domain"), app_actions.UPLOAD: _l("Versi baru"),
    app_actions.STORAGE: _l("Batas penyimpanan"), app_actions.REMOVAL: _l("Penghapusan aplikasi"),
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
METRIC_RANGES = {"1j": (timedelta(hours=1), _l("1 jam")), "24j": (timedelta(hours=24), _l("24 jam")),
                 "7h": (timedelta(days=7), _l("7 hari"))}
# The scan report is the scanner's own page: shown sandboxed, with its own inline style and no script.
SCAN_REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
MIB = 1024 * 1024
# Who may change an app's storage limit: it takes room on the data center's disks, not the tenant's.
STORAGE_SETTERS = (RoleKey.TECHNICIAN, RoleKey.SUPERADMIN)


# Who may decommission an app or hand its Web Panel login to a new manager: the data center's technicians.
LIFE_KEEPERS = (RoleKey.TECHNICIAN,)


class RemovalForm(FlaskForm):
    reason = TextAreaField(_l("Alasan penghapusan"),
                           validators=[DataRequired(_l("Tuliskan alasannya.")),
                                       Length(max=app_operations.REMOVAL_REASON_MAX_CHARS)])
    confirm = StringField(_l("Ketik nama aplikasi untuk memastikan"),
                          validators=[DataRequired(_l("Wajib diisi.")), Length(max=64)])


class HandoverForm(FlaskForm):
    username = StringField(_l("Nama pengguna baru (kosongkan bila tetap)"), validators=[Length(max=64)])


class LogsForm(FlaskForm):
    lines = IntegerField(_l("Jumlah baris"), default=app_operations.LOG_LINES_DEFAULT,
                         validators=[Optional(), NumberRange(1, app_operations.LOG_LINES_MAX)])
    follow = BooleanField(_l("Ikuti (perbarui terus selama 5 menit)"))


class StorageForm(FlaskForm):
    storage_mb = IntegerField(
        _l("Batas penyimpanan (MiB)"),
        validators=[DataRequired(_l("Wajib diisi.")),
                    NumberRange(app_operations.STORAGE_MIN_MB, app_operations.STORAGE_MAX_MB)],
        description=_l("Unggahan, cache dan data lain yang ditulis aplikasi; 1024 MiB = 1 GiB"))


class UploadForm(FlaskForm):
    bundle = FileField(_l("Berkas versi baru (.zip, .tar.gz)"),
                       validators=[DataRequired(_l("Pilih berkasnya."))])


class EnvVarForm(FlaskForm):
    name = StringField(_l("Nama"), validators=[DataRequired(_l("Wajib diisi.")), Length(max=64)],
                       description=_l("Huruf besar, angka dan garis bawah, misalnya APP_ENV"))
    value = TextAreaField(_l("Nilai"), validators=[Length(max=app_operations.ENV_VALUE_MAX_CHARS)])


def _load(app_id: int) -> App:
    return require_app_access(db.get_or_404(App, app_id))


def _page(template: str, app: App, tab: str, watched: list[Job | None], **context: Any) -> Any:
    busy = any(jobs.unfinished(job) for job in watched)
    return render_template(template, app=app, tab=tab, job_labels=JOB_LABELS,
                           upload_status_labels=UPLOAD_STATUS_LABELS,
                           release_status_labels=RELEASE_STATUS_LABELS,
                           can_manage=current_user.has_role(*APP_MANAGERS),
                           refresh_seconds=2 if busy else None, **context)


def _posted() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


def _refused(error: Exception) -> None:
    db.session.rollback()
    flash(str(error), category="error")


def _launch(app_id: int, start: Callable[[App, User], object], page: str) -> Any:
    """Start a job on the app from a posted form, then show `page` with its progress or refusal."""
    app = _load(app_id)
    _posted()
    try:
        start(app, current_user)  # type: ignore[arg-type]
    except app_actions.REFUSALS as refused:
        _refused(refused)
    return _to(page, app)


def _to(endpoint: str, app: App, anchor: str = "") -> Any:
    return redirect(url_for(f"webpanel.{endpoint}", app_id=app.id) + anchor)


# --- overview and power --------------------------------------------------------------------------


@bp.get("")
@login_required
def overview(app_id: int) -> Any:
    app = _load(app_id)
    status, job = app_actions.last_known_status(app)
    removal = jobs.latest(app_actions.REMOVAL, app)
    return _page("webpanel/overview.html", app, "overview", [job, removal],
                 job=job, status=status, live=app.live_release,
                 letter=app_operations.hosting_report_letter(app), removal_job=removal,
                 can_keep=current_user.has_role(*LIFE_KEEPERS), removal_form=RemovalForm(),
                 handover_form=HandoverForm())


@bp.post("/remove")
@require_role(*LIFE_KEEPERS)
def remove(app_id: int) -> Any:
    app = _load(app_id)
    form = RemovalForm()
    if not form.validate_on_submit():
        flash(_("Tuliskan alasan penghapusan dan ketik nama aplikasi."), category="error")
    elif (form.confirm.data or "").strip() != app.name:
        flash(_("Nama yang diketik tidak sama dengan nama aplikasi; aplikasi tidak dihapus."),
              category="error")
    else:
        try:
            app_actions.start_removal(app, current_user, form.reason.data or "")
        except app_actions.REFUSALS as refused:
            _refused(refused)
    return _to("overview", app)


@bp.post("/login")
@require_role(*LIFE_KEEPERS)
def hand_over_login(app_id: int) -> Any:
    app = _load(app_id)
    form = HandoverForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        account, password = app_actions.hand_over_login(app, current_user, (form.username.data or "").strip())
    except app_actions.REFUSALS as refused:
        _refused(refused)
        return _to("overview", app)
    db.session.commit()
    # Shown once, in this response only: the panel keeps only its hash.
    page = render_template("webpanel/login_handover.html", app=app, account=account, password=password)
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/<any(start, stop, restart, status):action>")
@require_role(*APP_MANAGERS)
def control(app_id: int, action: str) -> Any:
    app = _load(app_id)
    _posted()
    try:
        app_actions.start_control(app, current_user, action)
    except app_actions.REFUSALS as refused:
        _refused(refused)
    return _to("overview", app)


# --- logs ----------------------------------------------------------------------------------------


@bp.get("/logs")
@login_required
def logs(app_id: int) -> Any:
    app = _load(app_id)
    job = jobs.latest(app_actions.LOGS, app)
    source = request.args.get("sumber", "app")
    if source not in LOG_SOURCE_LABELS:
        source = "app"
    fetched = job.result.get("at") if job is not None and job.result else None
    lines = job.result.get("lines") if job is not None and job.result else None
    lines_label = ngettext("%(num)d baris terakhir", "%(num)d baris terakhir", lines) if lines else ""
    return _page("webpanel/logs.html", app, "logs", [job], job=job, source=source, lines_label=lines_label,
                 fetched_at=datetime.fromisoformat(fetched) if fetched else None,
                 sources=LOG_SOURCE_LABELS, form=LogsForm(formdata=None))


@bp.post("/logs")
@require_role(*APP_MANAGERS)
def fetch_logs(app_id: int) -> Any:
    app = _load(app_id)
    form = LogsForm()
    if form.validate_on_submit():
        try:
            app_actions.start_logs(app, current_user, form.lines.data or app_operations.LOG_LINES_DEFAULT,
                                   bool(form.follow.data))
        except app_actions.REFUSALS as refused:
            _refused(refused)
    else:
        flash(_("Jumlah baris harus 1 sampai 1000."), category="error")
    return _to("logs", app)


@bp.post("/logs/stop")
@require_role(*APP_MANAGERS)
def stop_logs(app_id: int) -> Any:
    app = _load(app_id)
    _posted()
    app_actions.stop_following(app)
    db.session.commit()
    return _to("logs", app)


# --- resource use --------------------------------------------------------------------------------


@bp.get("/metrics")
@login_required
def metrics(app_id: int) -> Any:
    app = _load(app_id)
    key = request.args.get("rentang", "24j")
    span, label = METRIC_RANGES.get(key, METRIC_RANGES["24j"])
    points = app_operations.metric_series(app, utcnow() - span)
    return _metrics_page(app, key, span, label, points, StorageForm(formdata=None, storage_mb=app.storage_mb))


@bp.post("/storage")
@require_role(*STORAGE_SETTERS)
def set_storage(app_id: int) -> Any:
    app = _load(app_id)
    form = StorageForm()
    if form.validate_on_submit():
        try:
            app_actions.start_storage_change(app, current_user, form.storage_mb.data or 0)
        except app_actions.REFUSALS as refused:
            _refused(refused)
    else:
        flash(_("Batas penyimpanan harus bilangan bulat %(low)d sampai %(high)d MiB.",
                low=app_operations.STORAGE_MIN_MB, high=app_operations.STORAGE_MAX_MB), category="error")
    return _to("metrics", app, "#penyimpanan")


def _metrics_page(app: App, key: str, span: timedelta, label: Any,
                  points: list[app_operations.MetricPoint], form: StorageForm) -> Any:
    job = jobs.latest(app_actions.STORAGE, app)
    storage_use, reported_by = app_actions.last_known_storage(app)
    return _page("webpanel/metrics.html", app, "metrics", [job], points=points, ranges=METRIC_RANGES,
                 range_key=key if key in METRIC_RANGES else "24j", range_label=label,
                 cpu_chart=_cpu_chart(points, label), memory_chart=_memory_chart(points, label),
                 storage_job=job, storage_use=storage_use, storage_reported=reported_by,
                 storage_form=form, can_set_storage=current_user.has_role(*STORAGE_SETTERS), mib=MIB)


def _clock(points: list[app_operations.MetricPoint]) -> list[str]:
    return [jam(p.at) for p in points]


def _cpu_chart(points: list[app_operations.MetricPoint], span: str) -> Markup:
    series = [charts.Series("CPU", [p.cpu_percent for p in points])]
    return charts.trend_chart("grafik-cpu", _("Pemakaian CPU, %(span)s terakhir", span=span),
                              _("Persen satu inti CPU yang dipakai kontainer aplikasi dari waktu ke waktu."),
                              _clock(points), series, unit="%", decimals=1)


def _memory_chart(points: list[app_operations.MetricPoint], span: str) -> Markup:
    series = [charts.Series(_("Terpakai"), [p.memory_bytes / MIB for p in points]),
              charts.Series(_("Batas"), [p.memory_limit_bytes / MIB for p in points])]
    return charts.trend_chart("grafik-memori", _("Pemakaian memori, %(span)s terakhir", span=span),
                              _("Memori yang dipakai kontainer aplikasi (MiB) dibanding batasnya."),
                              _clock(points), series, unit=" MiB")


# --- new versions --------------------------------------------------------------------------------


@bp.get("/uploads")
@login_required
def uploads(app_id: int) -> Any:
    app = _load(app_id)
    return _uploads_page(app, UploadForm(formdata=None))


@bp.post("/uploads")
@require_role(*APP_MANAGERS)
def upload(app_id: int) -> Any:
    app = _load(app_id)
    # A body over MAX_CONTENT_LENGTH is refused while it streams in (413) and one cut short is refused
    # as a bad request (400), both before this view runs; the bundle limit is checked as it is stored.
    form = UploadForm()
    valid = form.validate_on_submit()
    if not valid:
        return _uploads_page(app, form), 400
    bundle = hosting_requests.Upload(form.bundle.data.filename or "", form.bundle.data.stream)
    try:
        received = app_actions.receive_upload(app, current_user, bundle)
    except app_actions.REFUSALS as refused:
        _refused(refused)
    else:
        flash(_("Versi baru #%(id)d diterima dan sedang dipindai.", id=received.id), category="info")
    return _to("uploads", app)


def _uploads_page(app: App, form: UploadForm) -> Any:
    rows = app_actions.upload_rows(app)
    return _page("webpanel/uploads.html", app, "uploads", [row.job for row in rows], rows=rows, form=form)


@bp.get("/uploads/<int:upload_id>/report")
@login_required
def scan_report(app_id: int, upload_id: int) -> Any:
    app = _load(app_id)
    found = db.session.get(AppUpload, upload_id)
    report = found.scan_report if found is not None and found.app_id == app.id else None
    if report is None or not report.html_sha256:
        abort(404)
    response = send_file(storage.attachments().path(report.html_sha256), mimetype="text/html")
    response.headers["Content-Security-Policy"] = SCAN_REPORT_POLICY
    return response


@bp.get("/releases/<int:release_id>/build-report")
@login_required
def build_report(app_id: int, release_id: int) -> Any:
    """Show the scan of the files a release's Dockerfile build made."""
    app = _load(app_id)
    found = db.session.get(Release, release_id)
    report = found.build_scan_report if found is not None and found.app_id == app.id else None
    if report is None or not report.html_sha256:
        abort(404)
    response = send_file(storage.attachments().path(report.html_sha256), mimetype="text/html")
    response.headers["Content-Security-Policy"] = SCAN_REPORT_POLICY
    return response


# --- releases ------------------------------------------------------------------------------------


@bp.get("/releases")
@login_required
def releases(app_id: int) -> Any:
    app = _load(app_id)
    job = jobs.latest(app_actions.ROLLBACK, app)
    authors = {user.id: user for user in db.session.scalars(
        select(User).where(User.id.in_({r.created_by_id for r in app.releases if r.created_by_id})))}
    return _page("webpanel/releases.html", app, "releases", [job], job=job, authors=authors,
                 history=list(reversed(app.releases)))


@bp.post("/releases/rollback")
@require_role(*APP_MANAGERS)
def rollback(app_id: int) -> Any:
    return _launch(app_id, app_actions.start_rollback, "releases")


# --- environment variables ------------------------------------------------------------------------


@bp.get("/env")
@login_required
def env(app_id: int) -> Any:
    app = _load(app_id)
    return _env_page(app, EnvVarForm(formdata=None))


@bp.post("/env")
@require_role(*APP_MANAGERS)
def set_env(app_id: int) -> Any:
    app = _load(app_id)
    form = EnvVarForm()
    if not form.validate_on_submit():
        return _env_page(app, form), 400
    try:
        var = app_operations.set_env_var(app, form.name.data or "", form.value.data or "", current_user)
    except app_actions.REFUSALS as refused:
        _refused(refused)
        return _env_page(app, form), 400
    db.session.commit()
    flash(_("Variabel %(name)s disimpan; tekan Terapkan agar aplikasi memakainya.", name=var.name),
          category="info")
    return _to("env", app)


@bp.post("/env/<name>/delete")
@require_role(*APP_MANAGERS)
def delete_env(app_id: int, name: str) -> Any:
    app = _load(app_id)
    _posted()
    try:
        app_operations.remove_env_var(app, name, current_user)
    except app_actions.REFUSALS as refused:
        _refused(refused)
    else:
        db.session.commit()
        flash(_("Variabel %(name)s dihapus; tekan Terapkan agar aplikasi tidak memakainya lagi.", name=name),
              category="info")
    return _to("env", app)


@bp.post("/env/<name>/reveal")
@require_role(*APP_MANAGERS)
def reveal_env(app_id: int, name: str) -> Any:
    app = _load(app_id)
    _posted()
    var = app_operations.env_var(app, name)
    if var is None:
        abort(404)
    app_operations.record_reveal(app, var, current_user)
    db.session.commit()
    # Shown in this response only: never cached, never in a log or the audit trail.
    return _env_page(app, EnvVarForm(formdata=None), revealed=var), 200, {"Cache-Control": "no-store"}


@bp.post("/env/apply")
@require_role(*APP_MANAGERS)
def apply_env(app_id: int) -> Any:
    return _launch(app_id, app_actions.start_env_apply, "env")


def _env_page(app: App, form: EnvVarForm, revealed: Any = None) -> Any:
    job = jobs.latest(app_actions.ENV, app)
    variables = app_operations.env_vars(app)
    return _page("webpanel/env.html", app, "env", [job], job=job, form=form, revealed=revealed,
                 variables=[(var, app_operations.env_pending(var)) for var in variables])


# --- database ------------------------------------------------------------------------------------


@bp.get("/database")
@login_required
def database(app_id: int) -> Any:
    app = _load(app_id)
    details = jobs.latest(app_actions.DATABASE, app)
    reset = jobs.latest(app_actions.DATABASE_PASSWORD, app)
    ready = reset is not None and reset.created_by_id == current_user.id and bool(reset.result.get("sealed"))
    return _page("webpanel/database.html", app, "database", [details, reset], details=details, reset=reset,
                 password_ready=ready)


@bp.post("/database")
@require_role(*APP_MANAGERS)
def fetch_database(app_id: int) -> Any:
    return _launch(app_id, app_actions.start_database_fetch, "database")


@bp.post("/database/password")
@require_role(*APP_MANAGERS)
def reset_database_password(app_id: int) -> Any:
    return _launch(app_id, app_actions.start_database_password_reset, "database")


@bp.post("/database/password/<int:job_id>")
@require_role(*APP_MANAGERS)
def show_database_password(app_id: int, job_id: int) -> Any:
    app = _load(app_id)
    _posted()
    job = db.get_or_404(Job, job_id)
    try:
        password = app_actions.take_database_password(app, current_user, job)
    except app_actions.REFUSALS as refused:
        _refused(refused)
        return _to("database", app)
    db.session.commit()
    if password is None:
        flash(_("Kata sandi baru sudah terlalu lama tidak dilihat dan telah dibuang; "
                "atur ulang sekali lagi."), category="error")
        return _to("database", app)
    # Shown once, in this response only: the panel no longer holds it, not even encrypted.
    page = render_template("webpanel/database_password.html", app=app, password=password)
    return page, 200, {"Cache-Control": "no-store"}


# --- domain, TLS and the hosting report letter ---------------------------------------------------


@bp.get("/domain")
@login_required
def domain(app_id: int) -> Any:
    app = _load(app_id)
    job = jobs.latest(app_actions.DOMAIN, app)
    return _page("webpanel/domain.html", app, "domain", [job], job=job,
                 zone=app_operations.zone_of(app))


@bp.post("/domain")
@require_role(*APP_MANAGERS)
def check_domain(app_id: int) -> Any:
    return _launch(app_id, app_actions.start_domain_check, "domain")


@bp.get("/report-letter")
@login_required
def report_letter(app_id: int) -> Any:
    app = _load(app_id)
    letter = app_operations.hosting_report_letter(app)
    if letter is None:
        abort(404)
    return send_file(storage.attachments().path(letter.sha256), mimetype="application/pdf",
                     as_attachment=True, download_name=letter.filename)

