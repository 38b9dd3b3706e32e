"""Administration (Administrasi): container hosts, DNS zones, IP pools, the SOP templates, users and OPDs.

Technicians read the infrastructure they allocate and deploy onto; every change, the SOP editor and
the directory of users and OPDs belong to the platform administrator.
"""
from __future__ import annotations

from collections.abc import Callable
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
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from panel import gateway, jobs
from panel.extensions import db
from panel.formatting import ROLE_LABELS
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.jobs import launch
from panel.models import Host, Opd, RoleKey, User, Zone
from panel.models.accounts import DEFAULT_ROLE_LABELS
from panel.models.base import utcnow
from panel.models.workflow import SopTemplateVersion
from panel.permissions import require_role
from panel.services.accounts import directory
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


class RoleChoices(SelectMultipleField):
    """Role check boxes; which keys are valid is the directory service's to say."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        return None


class ProfileForm(FlaskForm):
    full_name = StringField(_l("Nama lengkap"), validators=[Length(max=200)])
    nip = StringField(_l("NIP"), validators=[Length(max=40)], description=_l("18 angka, boleh dikosongkan."))
    email = StringField(_l("Alamat surel"), validators=[Length(max=254)],
                        description=_l("Ke sini pemberitahuan dikirim."))
    opd = SelectField(_l("OPD"), validate_choice=False)
    roles = RoleChoices(_l("Peran"))

    def profile(self) -> directory.Profile:
        return directory.Profile(roles=tuple(self.roles.data or ()), opd_code=self.opd.data or None,
                                 full_name=self.full_name.data or "", email=self.email.data or None,
                                 nip=self.nip.data or None)


class NewUserForm(ProfileForm):
    username = StringField(_l("Nama pengguna"), validators=[DataRequired(REQUIRED), Length(max=64)],
                           description=_l("Huruf kecil, angka, titik, tanda hubung atau garis bawah, "
                                          "misalnya: %(example)s", example="budi.santoso"))


class OpdForm(FlaskForm):
    code = StringField(_l("Kode OPD"), validators=[DataRequired(REQUIRED), Length(max=32)],
                       description=_l("Huruf besar dan angka, misalnya: %(example)s", example="DINKES"))
    name = StringField(_l("Nama OPD"), validators=[DataRequired(REQUIRED), Length(max=200)])


class OpdNameForm(FlaskForm):
    name = StringField(_l("Nama OPD"))  # the code stays: users and requests refer to it; the service checks


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


# --- users and OPDs ----------------------------------------------------------------------------


@bp.get("/users")
@require_role(RoleKey.SUPERADMIN)
def users_index() -> Any:
    return _users_page(_choices(NewUserForm(formdata=None)))


@bp.post("/users")
@require_role(RoleKey.SUPERADMIN)
def add_user() -> Any:
    form = _choices(NewUserForm())
    if not form.validate_on_submit():
        return _users_page(form)
    try:
        created, password = directory.add_user(form.username.data or "", form.profile(), by=current_user,
                                               min_length=current_app.config["PASSWORD_MIN_LENGTH"])
    except directory.DirectoryRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return _users_page(form)
    db.session.commit()
    return _one_time_password_page(created, password or "")


@bp.get("/users/<int:user_id>")
@require_role(RoleKey.SUPERADMIN)
def show_user(user_id: int) -> Any:
    found = _directory_user_or_404(user_id)
    data = {"full_name": found.full_name, "nip": found.nip or "", "email": found.email or "",
            "opd": found.opd.code if found.opd else "", "roles": sorted(found.role_keys)}
    return _user_page(found, _choices(ProfileForm(formdata=None, data=data)))


@bp.post("/users/<int:user_id>")
@require_role(RoleKey.SUPERADMIN)
def edit_user(user_id: int) -> Any:
    found = _directory_user_or_404(user_id)
    form = _choices(ProfileForm())
    if not form.validate_on_submit():
        return _user_page(found, form)
    try:
        changed = directory.edit_user(found, form.profile(), by=current_user)
    except directory.DirectoryRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return _user_page(found, form)
    db.session.commit()
    flash(_("Data %(username)s disimpan.", username=found.username) if changed
          else _("Tidak ada perubahan."), category="info")
    return redirect(url_for("admin.show_user", user_id=found.id))


@bp.post("/users/<int:user_id>/password")
@require_role(RoleKey.SUPERADMIN)
def reset_password(user_id: int) -> Any:
    found = _directory_user_or_404(user_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    password = directory.reset_password(found, by=current_user,
                                        min_length=current_app.config["PASSWORD_MIN_LENGTH"])
    db.session.commit()
    return _one_time_password_page(found, password or "")


@bp.post("/users/<int:user_id>/disable")
@require_role(RoleKey.SUPERADMIN)
def disable_user(user_id: int) -> Any:
    return _change_user(user_id, directory.disable_user,
                        _l("%(username)s dinonaktifkan; semua sesi dan token API-nya berakhir."))


@bp.post("/users/<int:user_id>/enable")
@require_role(RoleKey.SUPERADMIN)
def enable_user(user_id: int) -> Any:
    return _change_user(user_id, directory.enable_user, _l("%(username)s dapat masuk kembali."))


@bp.post("/users/<int:user_id>/unlock")
@require_role(RoleKey.SUPERADMIN)
def unlock_user(user_id: int) -> Any:
    return _change_user(user_id, directory.unlock, _l("Pembatasan masuk %(username)s dihapus."))


@bp.post("/users/<int:user_id>/totp")
@require_role(RoleKey.SUPERADMIN)
def reset_totp(user_id: int) -> Any:
    return _change_user(user_id, directory.reset_second_factor,
                        _l("Verifikasi dua langkah %(username)s dimatikan; ia mendaftarkannya lagi saat "
                           "masuk bila perannya mewajibkan."))


@bp.get("/opds")
@require_role(RoleKey.SUPERADMIN)
def opds_index() -> Any:
    return _opds_page(OpdForm(formdata=None))


@bp.post("/opds")
@require_role(RoleKey.SUPERADMIN)
def add_opd() -> Any:
    form = OpdForm()
    if not form.validate_on_submit():
        return _opds_page(form)
    try:
        opd = directory.add_opd(form.code.data or "", form.name.data or "", by=current_user)
    except directory.DirectoryRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return _opds_page(form)
    db.session.commit()
    flash(_("OPD %(code)s terdaftar.", code=opd.code), category="info")
    return redirect(url_for("admin.opds_index"))


@bp.post("/opds/<int:opd_id>")
@require_role(RoleKey.SUPERADMIN)
def rename_opd(opd_id: int) -> Any:
    opd = db.get_or_404(Opd, opd_id)
    form = OpdNameForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        directory.rename_opd(opd, form.name.data or "", by=current_user)
    except directory.DirectoryRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return redirect(url_for("admin.opds_index"))
    db.session.commit()
    flash(_("Nama OPD %(code)s disimpan.", code=opd.code), category="info")
    return redirect(url_for("admin.opds_index"))


@bp.post("/opds/<int:opd_id>/disable")
@require_role(RoleKey.SUPERADMIN)
def disable_opd(opd_id: int) -> Any:
    return _change_opd(opd_id, directory.disable_opd,
                       _l("OPD %(code)s dinonaktifkan: tidak mengajukan permohonan dan tidak menerima "
                          "pengguna baru."))


@bp.post("/opds/<int:opd_id>/enable")
@require_role(RoleKey.SUPERADMIN)
def enable_opd(opd_id: int) -> Any:
    return _change_opd(opd_id, directory.enable_opd, _l("OPD %(code)s aktif kembali."))


def _change_opd(opd_id: int, change: Callable[..., Any], done: Any) -> Any:
    opd = db.get_or_404(Opd, opd_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        change(opd, by=current_user)
    except directory.DirectoryRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return redirect(url_for("admin.opds_index"))
    db.session.commit()
    flash(str(done) % {"code": opd.code}, category="info")
    return redirect(url_for("admin.opds_index"))


def _change_user(user_id: int, change: Callable[..., Any], done: Any) -> Any:
    found = _directory_user_or_404(user_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        change(found, by=current_user)
    except directory.DirectoryRefused as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return redirect(url_for("admin.show_user", user_id=found.id))
    db.session.commit()
    flash(str(done) % {"username": found.username}, category="info")
    return redirect(url_for("admin.show_user", user_id=found.id))


def _choices(form: ProfileForm) -> Any:
    form.opd.choices = [("", _("— tanpa OPD —"))] + [
        (opd.code, f"{opd.code} — {opd.name}" if opd.active else _("%(code)s — %(name)s (nonaktif)",
                                                                     code=opd.code, name=opd.name))
        for opd, _users in directory.opd_rows()]
    form.roles.choices = [(role.value, ROLE_LABELS[role]) for role in directory.ASSIGNABLE_ROLES]
    return form


def _directory_user_or_404(user_id: int) -> User:
    found = db.get_or_404(User, user_id)
    if found.app_account is not None:  # managed with its app, on the app's pages
        abort(404)
    return found


def _users_page(form: NewUserForm) -> Any:
    return render_template("admin/users.html", users=directory.users(), form=form)


def _user_page(found: User, form: ProfileForm) -> Any:
    return render_template("admin/user.html", user=found, form=form,
                           throttles=directory.throttles(found))


def _opds_page(form: OpdForm) -> Any:
    return render_template("admin/opds.html", rows=directory.opd_rows(), form=form)


def _one_time_password_page(found: User, password: str) -> Any:
    # Shown once, in this response only: the password is stored only as a hash, never logged or audited.
    page = render_template("admin/user_password.html", user=found, password=password)
    return page, 200, {"Cache-Control": "no-store"}


def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return 0


# The working calendar's page (Administrasi → Kalender kerja) has its own module.
from panel.blueprints import working_calendar as _working_calendar  # noqa: E402

_working_calendar.register(bp)
