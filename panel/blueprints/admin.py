"""Administration (Administrasi): container hosts, DNS zones, IP pools, the SOP templates, users and OPDs.

Technicians read the infrastructure they allocate and deploy onto; every change, the SOP editor and
the directory of users and OPDs belong to the platform administrator.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from panel import gateway, jobs
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.jobs import launch
from panel.models import Host, RoleKey, Zone
from panel.models.accounts import DEFAULT_ROLE_LABELS
from panel.models.base import utcnow
from panel.models.workflow import SopTemplateVersion
from panel.permissions import require_role
from panel.services.infra import administration, dns, hosts
from panel.services.infra.gateway import AgentUnavailable
from panel.services.requests import sop, workflow
from panel.tasks import infra as infra_tasks

bp = Blueprint("admin", __name__, url_prefix="/admin")

READERS = (RoleKey.TECHNICIAN, RoleKey.SUPERADMIN)
REQUIRED = _l("Wajib diisi.")
ROLES = [SelectChoice(role.value, DEFAULT_ROLE_LABELS[role]) for role in RoleKey]
STEP_ROLES = [(role.value, DEFAULT_ROLE_LABELS[role]) for role in administration.STEP_ROLES]
JOB_LABELS = {administration.REFRESH_JOB: _l("Pembaruan fakta"),
              administration.PROBE_JOB: _l("Uji server DNS")}


class WholeNumberField(IntegerField):
    """An integer field that complains in Indonesian."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(_("Harus berupa bilangan bulat.")) from None


class ChoiceField(SelectField):
    """A select field that complains in Indonesian about a value it did not offer."""

    def pre_validate(self, form: Any) -> None:
        if self.data not in {choice[0] for choice in self.iter_choices()}:
            raise ValidationError(_("Pilihan tidak dikenal."))


class HostForm(FlaskForm):
    name = StringField(_l("Nama host"), validators=[DataRequired(REQUIRED), Length(max=63)],
                       description=_l("Huruf kecil, angka dan tanda hubung, misalnya: %(example)s",
                                      example="dc-node-02"))
    address = StringField(_l("Alamat agen (IP atau nama DNS)"), validators=[DataRequired(REQUIRED),
                                                                           Length(max=253)])
    port = WholeNumberField(_l("Port agen"), default=hosts.DEFAULT_AGENT_PORT,
                            validators=[InputRequired(REQUIRED)])


class ZoneForm(FlaskForm):
    name = StringField(_l("Nama zona"), validators=[DataRequired(REQUIRED), Length(max=253)],
                       description=_l("Misalnya: %(example)s", example="contoh.go.id"))
    primary_server = StringField(_l("Server DNS utama (alamat IP:port)"),
                                 validators=[DataRequired(REQUIRED), Length(max=255)])
    tsig_key_name = StringField(_l("Nama kunci TSIG"), validators=[DataRequired(REQUIRED), Length(max=255)])
    tsig_algorithm = ChoiceField(_l("Algoritme TSIG"), choices=list(dns.TSIG_ALGORITHMS))
    tsig_secret = PasswordField(_l("Rahasia kunci TSIG (base64)"),
                                validators=[DataRequired(REQUIRED), Length(max=512)],
                                description=_l("Disimpan terenkripsi dan tidak pernah ditampilkan lagi."))
    record_ip = StringField(_l("Alamat IP tujuan rekaman aplikasi (nginx depan)"),
                            validators=[DataRequired(REQUIRED), Length(max=45)])
    ttl = WholeNumberField(_l("TTL rekaman (detik)"), default=dns.DEFAULT_TTL,
                           validators=[InputRequired(REQUIRED)])


class PoolForm(FlaskForm):
    name = StringField(_l("Nama pool"), validators=[DataRequired(REQUIRED), Length(max=63)],
                       description=_l("Huruf kecil, angka dan tanda hubung, misalnya: %(example)s",
                                      example="dmz-publik"))
    network = StringField(_l("Jaringan (CIDR)"), validators=[DataRequired(REQUIRED), Length(max=49)],
                          description=_l("Misalnya: %(example)s", example="10.10.1.0/24"))
    first = StringField(_l("Alamat pertama"), validators=[DataRequired(REQUIRED), Length(max=45)])
    last = StringField(_l("Alamat terakhir"), validators=[DataRequired(REQUIRED), Length(max=45)])


class StepFields(Form):
    key = HiddenField()
    role = ChoiceField(_l("Pelaksana"), choices=ROLES)  # which role may act where: the service decides
    waktu_menit = WholeNumberField(_l("Mutu Baku waktu (menit)"), validators=[Optional()])
    output = StringField(_l("Keluaran"), validators=[Length(max=200)])


class TemplateForm(FlaskForm):
    base_version = HiddenField()
    steps = FieldList(FormField(StepFields))


# --- hosts -------------------------------------------------------------------------------------


@bp.get("/hosts")
@require_role(*READERS)
def hosts_index() -> Any:
    return _hosts_page(HostForm(formdata=None))


@bp.post("/hosts")
@require_role(RoleKey.SUPERADMIN)
def add_host() -> Any:
    form = HostForm()
    if not form.validate_on_submit():
        return _hosts_page(form)
    agents = gateway.agents()
    try:
        host, token = hosts.add_host(agents, (form.name.data or "").strip(),
                                     (form.address.data or "").strip(), form.port.data or 0, current_user)
    except (hosts.HostRefused, AgentUnavailable) as refused:  # a bad host, or no CA made yet
        db.session.rollback()
        flash(str(refused), category="error")
        return _hosts_page(form)
    db.session.commit()
    return _enrolment_page(host, hosts.enrolment_command(agents, token, current_app.config["PANEL_URL"]))


@bp.post("/hosts/<int:host_id>/token")
@require_role(RoleKey.SUPERADMIN)
def reissue_token(host_id: int) -> Any:
    host = db.get_or_404(Host, host_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    agents = gateway.agents()
    try:
        token = hosts.reissue_token(agents, host, current_user)
    except (hosts.HostRefused, AgentUnavailable) as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return redirect(url_for("admin.hosts_index"))
    db.session.commit()
    return _enrolment_page(host, hosts.enrolment_command(agents, token, current_app.config["PANEL_URL"]))


@bp.post("/hosts/<int:host_id>/reenroll")
@require_role(RoleKey.SUPERADMIN)
def reenroll_host(host_id: int) -> Any:
    host = db.get_or_404(Host, host_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    agents = gateway.agents()
    try:
        token = hosts.reenroll(agents, host, current_user)
    except (hosts.HostRefused, AgentUnavailable) as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return redirect(url_for("admin.hosts_index"))
    db.session.commit()
    command = hosts.enrolment_command(agents, token, current_app.config["PANEL_URL"]) + " --force"
    return _enrolment_page(host, command)


@bp.post("/hosts/<int:host_id>/front")
@require_role(RoleKey.SUPERADMIN)
def set_front_address(host_id: int) -> Any:
    host = db.get_or_404(Host, host_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        hosts.set_front_address(host, request.form.get("front_address", ""), current_user)
    except hosts.HostRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return redirect(url_for("admin.hosts_index"))
    db.session.commit()
    flash(_("Alamat depan %(host)s disimpan: %(address)s.", host=host.name, address=host.front),
          category="info")
    return redirect(url_for("admin.hosts_index"))


@bp.post("/hosts/<int:host_id>/refresh")
@require_role(RoleKey.SUPERADMIN)
def refresh_host(host_id: int) -> Any:
    host = db.get_or_404(Host, host_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        wanted = administration.want_refresh(host, current_user)
    except hosts.HostRefused as refused:
        flash(str(refused), category="error")
        return redirect(url_for("admin.hosts_index"))
    if wanted:
        launch(administration.REFRESH_JOB, host, current_user, infra_tasks.refresh_host, host.id)
    flash(_("Fakta %(host)s sedang diperbarui.", host=host.name), category="info")
    return redirect(url_for("admin.hosts_index"))


def _hosts_page(form: HostForm) -> Any:
    now = utcnow()
    rows = administration.host_rows(now)
    busy = any(jobs.unfinished(row.refresh) for row in rows)
    expiring = {host.id for host in hosts.certificates_expiring(now, hosts.EXPIRY_NOTICE_BEFORE)}
    return render_template("admin/hosts.html", rows=rows, form=form, job_labels=JOB_LABELS,
                           refresh_seconds=2 if busy else None, expiring=expiring)


def _enrolment_page(host: Host, command: str) -> Any:
    # Shown once, in this response only: the token is stored only as a hash, never logged or audited.
    page = render_template("admin/host_enrolment.html", host=host, command=command)
    return page, 200, {"Cache-Control": "no-store"}


# --- zones -------------------------------------------------------------------------------------


@bp.get("/zones")
@require_role(*READERS)
def zones_index() -> Any:
    return _zones_page(ZoneForm(formdata=None))


@bp.post("/zones")
@require_role(RoleKey.SUPERADMIN)
def add_zone() -> Any:
    form = ZoneForm()
    if not form.validate_on_submit():
        return _zones_page(form)
    settings = administration.ZoneSettings(
        name=form.name.data or "", primary_server=form.primary_server.data or "",
        tsig_key_name=form.tsig_key_name.data or "", tsig_algorithm=form.tsig_algorithm.data or "",
        tsig_secret=form.tsig_secret.data or "", record_ip=form.record_ip.data or "", ttl=form.ttl.data or 0)
    try:
        zone = administration.add_zone(settings, current_user)
    except administration.AdminRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return _zones_page(form)
    db.session.commit()
    flash(_("Zona %(zone)s terdaftar. Uji server DNS-nya sebelum dipakai.", zone=zone.name),
          category="info")
    return redirect(url_for("admin.zone", zone_id=zone.id))


@bp.get("/zones/<int:zone_id>")
@require_role(*READERS)
def zone(zone_id: int) -> Any:
    found = db.get_or_404(Zone, zone_id)
    probe = jobs.latest(administration.PROBE_JOB, found)
    return render_template("admin/zone.html", zone=found, probe=probe, job_labels=JOB_LABELS,
                           refresh_seconds=2 if jobs.unfinished(probe) else None)


@bp.post("/zones/<int:zone_id>/probe")
@require_role(RoleKey.SUPERADMIN)
def probe_zone(zone_id: int) -> Any:
    found = db.get_or_404(Zone, zone_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    if administration.want_probe(found, current_user):
        launch(administration.PROBE_JOB, found, current_user, infra_tasks.probe_zone, found.id)
    return redirect(url_for("admin.zone", zone_id=found.id))


def _zones_page(form: ZoneForm) -> Any:
    return render_template("admin/zones.html", rows=administration.zone_rows(), form=form,
                           job_labels=JOB_LABELS)


# --- IP pools ----------------------------------------------------------------------------------


@bp.get("/pools")
@require_role(*READERS)
def pools_index() -> Any:
    return _pools_page(PoolForm(formdata=None))


@bp.post("/pools")
@require_role(RoleKey.SUPERADMIN)
def add_pool() -> Any:
    form = PoolForm()
    if not form.validate_on_submit():
        return _pools_page(form)
    try:
        pool = administration.add_pool(form.name.data or "", form.network.data or "", form.first.data or "",
                                       form.last.data or "", current_user)
    except administration.AdminRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return _pools_page(form)
    db.session.commit()
    flash(_("Pool %(pool)s (%(first)s–%(last)s) terdaftar.", pool=pool.name, first=pool.first,
            last=pool.last), category="info")
    return redirect(url_for("admin.pools_index"))


def _pools_page(form: PoolForm) -> Any:
    return render_template("admin/pools.html", rows=administration.pool_rows(), form=form)


# --- SOP templates -----------------------------------------------------------------------------


@bp.get("/sop")
@require_role(RoleKey.SUPERADMIN)
def sop_templates() -> Any:
    return render_template("admin/sop_index.html", versions=administration.latest_templates())


@bp.get("/sop/<key>")
@require_role(RoleKey.SUPERADMIN)
def sop_template(key: str) -> Any:
    version = _latest_or_404(key)
    data = {"base_version": str(version.version),
            "steps": [{"key": raw["key"], "role": raw["role"], "waktu_menit": raw.get("waktu_menit"),
                       "output": raw.get("output", "")} for raw in version.definition["steps"]]}
    return _template_page(version, TemplateForm(formdata=None, data=data))


@bp.post("/sop/<key>")
@require_role(RoleKey.SUPERADMIN)
def revise_sop(key: str) -> Any:
    latest = _latest_or_404(key)
    form = TemplateForm()
    base = administration.template_version(key, _int(form.base_version.data)) or latest
    if not form.validate_on_submit():
        return _template_page(base, form)
    edits = {}
    for entry in form.steps:
        step = entry.form
        edits[step.key.data or ""] = administration.StepEdit(
            role=step.role.data or "", waktu_menit=step.waktu_menit.data, output=step.output.data or "")
    try:
        revision, created = administration.revise_template(key, base.version, edits, current_user)
    except administration.AdminRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return _template_page(base, form)
    db.session.commit()
    if created:
        flash(_("Versi %(version)s disimpan. Permohonan baru memakai versi ini; permohonan yang "
                "sudah diajukan tetap memakai versinya.", version=revision.version), category="info")
    else:
        flash(_("Tidak ada perubahan; templat tetap pada versi %(version)s.", version=revision.version),
              category="info")
    return redirect(url_for("admin.sop_template", key=key))


def _latest_or_404(key: str) -> SopTemplateVersion:
    try:
        return workflow.latest_version(key)
    except workflow.WorkflowError:
        abort(404)


def _template_page(version: SopTemplateVersion, form: TemplateForm) -> Any:
    # Paired by position with the version the form was made from; the service checks the keys.
    steps = list(zip(sop.parse(version.definition).steps, form.steps, strict=False))
    return render_template("admin/sop_edit.html", version=version, steps=steps, form=form,
                           step_roles=STEP_ROLES)


def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return 0


# The working calendar's page (Administrasi → Kalender kerja) has its own module.
from panel.blueprints import working_calendar as _working_calendar  # noqa: E402

_working_calendar.register(bp)

# So have the pages of users and OPDs (Administrasi → Pengguna, OPD).
from panel.blueprints import admin_accounts as _admin_accounts  # noqa: E402

_admin_accounts.register(bp)
