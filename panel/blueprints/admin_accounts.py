"""Administrasi → Pengguna and OPD: the platform administrator's pages for accounts and agencies.

The routes are declared here and added to the admin blueprint by `register` (as the working
calendar's are), so their endpoints stay `admin.*`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from panel.extensions import db
from panel.formatting import ROLE_LABELS
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import Opd, RoleKey, User
from panel.models.accounts import DEFAULT_ROLE_LABELS
from panel.permissions import require_role
from panel.services.accounts import directory

REQUIRED = _l("Wajib diisi.")
ROLES = [SelectChoice(role.value, DEFAULT_ROLE_LABELS[role]) for role in RoleKey]


class _Routes:
    """Collects this module's routes for `register`, with the decorators a blueprint has."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, Callable[..., Any], list[str]]] = []

    def _route(self, rule: str, methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(view: Callable[..., Any]) -> Callable[..., Any]:
            self.rules.append((rule, view, methods))
            return view
        return add

    def get(self, rule: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._route(rule, ["GET"])

    def post(self, rule: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._route(rule, ["POST"])


bp = _Routes()


def register(blueprint: Blueprint) -> None:
    """Add the accounts pages' routes to the admin blueprint."""
    for rule, view, methods in bp.rules:
        blueprint.add_url_rule(rule, view.__name__, view, methods=methods)


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

