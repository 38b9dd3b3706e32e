"""Hosting requests (Permohonan): file one, follow it, act on its steps, talk with the OPD."""
from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from panel import jobs, storage
from panel.actions import requests as request_actions
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import (
    OPEN_STATUSES,
    Attachment,
    AttachmentKind,
    HostingRequest,
    RequestStatus,
    RoleKey,
)
from panel.models.workflow import Comment
from panel.permissions import (
    DATA_CENTER_ROLES,
    REQUEST_PARTICIPANTS,
    require_request_access,
    require_role,
    visible_requests,
)
from panel.services.infra import allocation
from panel.services.releases import scanning
from panel.services.requests import fulfilment, hosting_requests, kelengkapan, workflow

bp = Blueprint("requests", __name__, url_prefix="/requests")

READERS = (RoleKey.OPD_ADMIN, *DATA_CENTER_ROLES)
JOB_LABELS = {request_actions.SCAN: _l("Pemindaian keamanan"),
              request_actions.ALLOCATE: _l("Pemeriksaan dan alokasi sub-domain"),
              request_actions.DEPLOY: _l("Pemasangan aplikasi")}
LETTER_KINDS = (AttachmentKind.REQUEST_LETTER, AttachmentKind.RECOMMENDATION,
                AttachmentKind.APPOINTMENT_LETTER, AttachmentKind.INSTALL_GUIDE)
STACK_CHOICES = [SelectChoice("php", _l("PHP (Laravel, CodeIgniter, WordPress, PHP native)")),
                 SelectChoice("static", _l("Situs statis (HTML/CSS/JS)")),
                 SelectChoice("dockerfile", _l("Dockerfile sendiri (berbasis image runtime Wadah)"))]


class RequestForm(FlaskForm):
    submission_key = HiddenField()
    app_name = StringField(_l("Nama aplikasi"), validators=[DataRequired(), Length(max=200)])
    subdomain = StringField(_l("Sub-domain yang diinginkan"), validators=[DataRequired()],
                            description=_l("Huruf kecil, angka dan tanda hubung, misalnya: simpeg"))
    stack = SelectField(_l("Jenis aplikasi"), choices=STACK_CHOICES)
    needs_database = BooleanField(
        _l("Aplikasi memerlukan basis data MariaDB"),
        description=_l("Untuk aplikasi PHP atau Dockerfile: Wadah membuat basis data dan akun khusus "
                       "aplikasi ini di server."))
    description = TextAreaField(_l("Uraian singkat"), validators=[Length(max=2000)])
    contact = StringField(_l("Kontak pengelola (nama, telepon/email)"), validators=[Length(max=200)])
    bundle = FileField(_l("Berkas aplikasi (.zip, .tar.gz)"))
    rekomendasi = StringField(
        _l("Atau nomor rekomendasi dari pengembangan aplikasi (SOP 002)"), validators=[Length(max=80)],
        description=_l("Pengganti unggahan Rekomendasi Tim Teknis, misalnya 001/HOST/DISKOMINFO/2026/REK"))


for _kind in LETTER_KINDS:
    setattr(RequestForm, f"letter_{_kind.value}",
            FileField(_l("%(document)s (PDF)", document=hosting_requests.ATTACHMENT_LABELS[_kind])))


class StepForm(FlaskForm):
    decision = HiddenField()
    note = TextAreaField(_l("Catatan"), validators=[Length(max=2000)])


class DispositionForm(FlaskForm):
    to_role = SelectField(_l("Didisposisikan kepada"), choices=[
        SelectChoice(RoleKey.HEAD.value, _l("Kepala Bidang")),
        SelectChoice(RoleKey.COORDINATOR.value, _l("Sub Koordinator / Kepala Seksi")),
        SelectChoice(RoleKey.TECHNICIAN.value, _l("Pengelola Instalasi TI / Tenaga Teknis"))])
    note = TextAreaField(_l("Isi disposisi"), validators=[DataRequired(), Length(max=2000)])


class ReviewAcceptanceForm(FlaskForm):
    reason = TextAreaField(_l("Alasan menerima hasil 'perlu ditinjau'"),
                           validators=[DataRequired(), Length(max=2000)])


class BundleForm(FlaskForm):
    bundle = FileField(_l("Berkas aplikasi baru (.zip, .tar.gz)"))


class SubdomainForm(FlaskForm):
    subdomain = StringField(_l("Sub-domain pengganti"), validators=[DataRequired(), Length(max=63)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Alasan"), validators=[DataRequired(), Length(max=2000)])


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Pesan"), validators=[DataRequired(), Length(max=4000)])


def _load(request_id: int) -> HostingRequest:
    return require_request_access(db.get_or_404(HostingRequest, request_id))


@bp.get("")
@require_role(*READERS)
def index() -> Any:
    status = request.args.get("status")
    query = select(HostingRequest).where(visible_requests(current_user)).order_by(HostingRequest.id.desc())
    if status in set(RequestStatus):
        query = query.where(HostingRequest.status == status)
    page = db.paginate(query.options(selectinload(HostingRequest.opd)), per_page=25)
    return render_template("requests/index.html", page=page, status=status, statuses=RequestStatus)


@bp.route("/new", methods=["GET", "POST"])
@require_role(RoleKey.OPD_ADMIN)
def new() -> Any:
    template_key = current_app.config["DEFAULT_SOP_TEMPLATE"]
    required = hosting_requests.required_attachments(template_key)
    form = RequestForm()
    if not form.submission_key.data:
        form.submission_key.data = secrets.token_urlsafe(24)
    if form.validate_on_submit():
        letters = {kind.value: hosting_requests.Upload(field.data.filename or "", field.data.stream)
                   for kind in LETTER_KINDS
                   if (field := getattr(form, f"letter_{kind.value}")).data}
        bundle = form.bundle.data
        draft = workflow.RequestDraft(
            app_name=form.app_name.data or "", subdomain=(form.subdomain.data or "").strip(),
            stack=form.stack.data or "", description=form.description.data or "",
            contact=form.contact.data or "", needs_database=bool(form.needs_database.data))
        try:
            filed = request_actions.file_request(
                current_user, draft, letters,
                hosting_requests.Upload(bundle.filename or "", bundle.stream) if bundle else None,
                form.submission_key.data, form.rekomendasi.data or "")
        except request_actions.REFUSALS as refused:
            db.session.rollback()
            flash(str(refused), category="error")
            if isinstance(refused, hosting_requests.SubmissionKeyReused):
                form.submission_key.data = secrets.token_urlsafe(24)  # the next send is a new request
        else:
            db.session.commit()
            flash(_("Permohonan %(number)s terkirim.", number=filed.number), category="info")
            return redirect(url_for("requests.show", request_id=filed.id))
    return render_template("requests/new.html", form=form, required=required, kinds=LETTER_KINDS,
                           labels=hosting_requests.ATTACHMENT_LABELS)


@bp.get("/<int:request_id>")
@require_role(*READERS)
def show(request_id: int) -> Any:
    hosting_request = _load(request_id)
    template = workflow.template_of(hosting_request)
    open_step = next((s for s in hosting_request.steps if s.finished_at is None), None)
    comments = db.session.scalars(select(Comment).where(Comment.request_id == hosting_request.id)
                                  .order_by(Comment.id)).all()
    job = request_actions.latest_job(hosting_request)
    app = allocation.app_of(hosting_request)
    live = app.live_release if app else None
    return render_template(
        "requests/show.html", req=hosting_request, template=template, open_step=open_step,
        step_def=template.step(open_step.step_key) if open_step else None, job=job,
        kelengkapan=(kelengkapan.of_step(hosting_request, template.step(open_step.step_key))
                     if open_step else ()),
        referenced=kelengkapan.referenced(hosting_request),
        refresh_seconds=2 if jobs.unfinished(job) else None,
        scan_report=scanning.latest_report(hosting_request.artifact_sha256), live_release=live,
        capacity=fulfilment.capacity(hosting_request) if open_step else None,
        comments=comments, step_form=StepForm(), disposition_form=DispositionForm(),
        review_form=ReviewAcceptanceForm(), bundle_form=BundleForm(), comment_form=CommentForm(),
        subdomain_form=SubdomainForm(), reason_form=ReasonForm(), open_statuses=OPEN_STATUSES,
        labels=hosting_requests.ATTACHMENT_LABELS, job_labels=JOB_LABELS)


@bp.post("/<int:request_id>/act")
@require_role(*REQUEST_PARTICIPANTS)
def act(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = StepForm()
    if form.validate_on_submit():
        try:
            workflow.act(hosting_request, current_user, form.decision.data or None, form.note.data or "")
        except request_actions.REFUSALS as refused:
            db.session.rollback()
            flash(str(refused), category="error")
        else:
            db.session.commit()
            flash(_("Langkah dicatat."), category="info")
    return redirect(url_for("requests.show", request_id=request_id))


@bp.post("/<int:request_id>/dispose")
@require_role(RoleKey.HEAD, RoleKey.COORDINATOR)
def dispose(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = DispositionForm()
    if form.validate_on_submit():
        try:
            workflow.dispose(hosting_request, current_user, RoleKey(form.to_role.data), form.note.data or "")
        except workflow.WorkflowError as refused:
            db.session.rollback()
            flash(str(refused), category="error")
        else:
            db.session.commit()
            flash(_("Disposisi dicatat."), category="info")
    return redirect(url_for("requests.show", request_id=request_id))


@bp.post("/<int:request_id>/comments")
@require_role(*REQUEST_PARTICIPANTS)
def comment(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = CommentForm()
    if form.validate_on_submit():
        workflow.comment(hosting_request, current_user, form.body.data or "")
        db.session.commit()
    return redirect(url_for("requests.show", request_id=request_id) + "#koordinasi")


@bp.get("/<int:request_id>/attachments/<int:attachment_id>")
@require_role(*READERS)
def attachment(request_id: int, attachment_id: int) -> Any:
    hosting_request = _load(request_id)
    document = db.session.get(Attachment, attachment_id)
    if document is None or document.request_id != hosting_request.id:
        abort(404)
    return send_file(storage.attachments().path(document.sha256), mimetype="application/pdf",
                     as_attachment=True, download_name=document.filename)


def _back(request_id: int) -> Any:
    return redirect(url_for("requests.show", request_id=request_id))


def _refused(error: Exception) -> None:
    db.session.rollback()
    flash(str(error), category="error")


@bp.post("/<int:request_id>/scan")
@require_role(RoleKey.TECHNICIAN)
def scan(request_id: int) -> Any:
    hosting_request = _load(request_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        request_actions.start_scan(hosting_request, current_user)
    except request_actions.REFUSALS as refused:
        _refused(refused)
    return _back(request_id)


@bp.post("/<int:request_id>/accept-review")
@require_role(RoleKey.TECHNICIAN)
def accept_review(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = ReviewAcceptanceForm()
    if form.validate_on_submit():
        try:
            request_actions.accept_review(hosting_request, current_user, form.reason.data or "")
        except request_actions.REFUSALS as refused:
            _refused(refused)
        else:
            db.session.commit()
            flash(_("Hasil pemindaian diterima dengan alasan tertulis."), category="info")
    return _back(request_id)


@bp.post("/<int:request_id>/bundle")
@require_role(RoleKey.OPD_ADMIN, RoleKey.TECHNICIAN)
def replace_bundle(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = BundleForm()
    if form.validate_on_submit() and form.bundle.data:
        upload = hosting_requests.Upload(form.bundle.data.filename or "", form.bundle.data.stream)
        try:
            request_actions.replace_bundle(hosting_request, current_user, upload)
        except request_actions.REFUSALS as refused:
            _refused(refused)
        else:
            db.session.commit()
            flash(_("Berkas aplikasi baru disimpan; pindai ulang untuk melanjutkan."), category="info")
    return _back(request_id)


@bp.post("/<int:request_id>/allocate")
@require_role(RoleKey.TECHNICIAN)
def allocate(request_id: int) -> Any:
    hosting_request = _load(request_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        request_actions.start_allocation(hosting_request, current_user)
    except request_actions.REFUSALS as refused:
        _refused(refused)
    return _back(request_id)


@bp.post("/<int:request_id>/deploy")
@require_role(RoleKey.TECHNICIAN)
def deploy(request_id: int) -> Any:
    hosting_request = _load(request_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        request_actions.start_deploy(hosting_request, current_user)
    except request_actions.REFUSALS as refused:
        _refused(refused)
    return _back(request_id)


@bp.post("/<int:request_id>/web-panel-login")
@require_role(RoleKey.TECHNICIAN)
def issue_login(request_id: int) -> Any:
    hosting_request = _load(request_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        account, password = request_actions.issue_login(hosting_request, current_user)
    except request_actions.REFUSALS as refused:
        _refused(refused)
        return _back(request_id)
    db.session.commit()
    # Shown once, in this response only: never stored in clear, never in a letter or a log.
    response = render_template("requests/web_panel_login.html", req=hosting_request, account=account,
                               password=password, app=account.app)
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/<int:request_id>/response-letter")
@require_role(RoleKey.COORDINATOR)
def response_letter(request_id: int) -> Any:
    hosting_request = _load(request_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        request_actions.write_response_letter(hosting_request, current_user)
    except request_actions.REFUSALS as refused:
        _refused(refused)
    else:
        db.session.commit()
        flash(_("Surat tanggapan dibuat dan dilampirkan."), category="info")
    return _back(request_id)


@bp.post("/<int:request_id>/recommendation-letter")
@require_role(RoleKey.COORDINATOR)
def recommendation_letter(request_id: int) -> Any:
    hosting_request = _load(request_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        request_actions.write_recommendation(hosting_request, current_user)
    except request_actions.REFUSALS as refused:
        _refused(refused)
    else:
        db.session.commit()
        flash(_("Surat rekomendasi dibuat dan dilampirkan."), category="info")


@bp.post("/<int:request_id>/subdomain")
@require_role(RoleKey.OPD_ADMIN)
def change_subdomain(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = SubdomainForm()
    if form.validate_on_submit():
        try:
            request_actions.change_subdomain(hosting_request, current_user,
                                             (form.subdomain.data or "").strip())
        except request_actions.REFUSALS as refused:
            _refused(refused)
        else:
            db.session.commit()
            flash(_("Sub-domain diganti."), category="info")
    return _back(request_id)


@bp.post("/<int:request_id>/withdrawal")
@require_role(RoleKey.OPD_ADMIN)
def withdraw(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            request_actions.withdraw(hosting_request, current_user, form.reason.data or "")
        except request_actions.REFUSALS as refused:
            _refused(refused)
        else:
            db.session.commit()
            flash(_("Permohonan ditarik."), category="info")
    else:
        flash(_("Alasan wajib diisi."), category="error")
    return _back(request_id)


@bp.post("/<int:request_id>/rejection")
@require_role(RoleKey.COORDINATOR)
def reject(request_id: int) -> Any:
    hosting_request = _load(request_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            request_actions.reject(hosting_request, current_user, form.reason.data or "")
        except request_actions.REFUSALS as refused:
            _refused(refused)
        else:
            db.session.commit()
            flash(_("Permohonan ditolak; surat penolakan dilampirkan."), category="info")
    else:
        flash(_("Alasan wajib diisi."), category="error")
    return _back(request_id)
