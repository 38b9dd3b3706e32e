"""The application inventory (Inventarisasi Aplikasi): every hosted app the user may see, and the
technicians' queue of new versions whose scan waits for their review."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from panel.actions import apps as app_actions
from panel.extensions import db
from panel.formatting import STACK_LABELS
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.i18n import ngettext
from panel.models import AppStatus, AppUpload, RoleKey, Stack
from panel.permissions import login_required, require_app_access, require_role
from panel.services.apps import external_apps, inventory
from panel.services.releases import app_uploads

bp = Blueprint("apps", __name__, url_prefix="/apps")

FILTER_ARGS = ("q", "opd", "stack", "status", "host")


def _choice(name: str, allowed: type[Stack] | type[AppStatus]) -> str | None:
    value = request.args.get(name, "")
    return value if value in set(allowed) else None


@bp.get("")
@login_required
def index() -> Any:
    filters = inventory.AppFilters(
        opd_id=request.args.get("opd", type=int), stack=_choice("stack", Stack),
        status=_choice("status", AppStatus), host_id=request.args.get("host", type=int),
        text=request.args.get("q", "").strip()[:100])
    page = inventory.inventory_page(current_user, filters, request.args.get("page", 1, type=int))
    # The pager keeps the filters the user set.
    kept = {name: request.args[name] for name in FILTER_ARGS if request.args.get(name)}
    total_label = ngettext("%(num)d aplikasi", "%(num)d aplikasi", page.pagination.total or 0)
    return render_template("apps/index.html", page=page, filters=filters, kept=kept, total_label=total_label,
                           opds=inventory.opd_choices(current_user),
                           hosts=inventory.host_choices(current_user), stacks=Stack, statuses=AppStatus)


class ExternalAppForm(FlaskForm):
    name = StringField(_l("Nama aplikasi"), validators=[DataRequired(_l("Wajib diisi.")), Length(max=40)],
                       description=_l("Huruf kecil, angka dan tanda hubung, misalnya sipd-lama"))
    url = StringField(_l("Alamat (URL)"), validators=[DataRequired(_l("Wajib diisi.")), Length(max=255)],
                      description=_l("Misalnya https://sipd.muaraenimkab.go.id/"))
    opd_id = SelectField(_l("OPD pemilik"), coerce=int, validators=[DataRequired(_l("Wajib diisi."))])
    server = StringField(_l("Server"), validators=[DataRequired(_l("Wajib diisi.")), Length(max=200)],
                         description=_l("Nama atau alamat server tempat aplikasi berjalan"))
    stack = SelectField(_l("Jenis"), choices=[(s.value, STACK_LABELS[s]) for s in Stack])


@bp.route("/external", methods=["GET", "POST"])
@require_role(RoleKey.TECHNICIAN)
def record_external() -> Any:
    # Apps hosted before Wadah: recorded only, so the inventory and reports count every app of the Pemda.
    form = ExternalAppForm()
    form.opd_id.choices = [(o.id, o.name) for o in inventory.opd_choices(current_user)]
    if form.validate_on_submit():
        entry = external_apps.ExternalApp(name=form.name.data or "", url=form.url.data or "",
                                          opd_id=form.opd_id.data or 0, server=form.server.data or "",
                                          stack=form.stack.data or "")
        try:
            recorded = app_actions.record_external(entry, current_user)
        except app_actions.REFUSALS as refused:
            db.session.rollback()
            flash(str(refused), category="error")
        else:
            db.session.commit()
            flash(_("Aplikasi eksternal %(name)s dicatat.", name=recorded.name), category="info")
            return redirect(url_for("webpanel.overview", app_id=recorded.id))
    return render_template("apps/external.html", form=form)


class ReviewAcceptanceForm(FlaskForm):
    reason = TextAreaField(_l("Alasan menerima hasil 'perlu ditinjau'"),
                           validators=[DataRequired(_l("Tuliskan alasannya.")), Length(max=2000)])


@bp.get("/reviews")
@require_role(RoleKey.TECHNICIAN)
def reviews() -> Any:
    # New versions uploaded through the apps' Web Panels whose scan asks for a technician's judgement.
    uploads = app_uploads.review_queue()
    findings = {upload.id: ngettext("%(num)d temuan", "%(num)d temuan",
                                    len((upload.scan_report.report or {}).get("findings") or []))
                for upload in uploads if upload.scan_report is not None}
    return render_template("apps/reviews.html", uploads=uploads, findings=findings)


@bp.post("/reviews/<int:upload_id>/accept")
@require_role(RoleKey.TECHNICIAN)
def accept_upload(upload_id: int) -> Any:
    upload = db.get_or_404(AppUpload, upload_id)
    require_app_access(upload.app)
    form = ReviewAcceptanceForm()
    if not form.validate_on_submit():
        flash(_("Tuliskan alasan penerimaan."), category="error")
        return redirect(url_for("apps.reviews"))
    try:
        app_actions.accept_upload(upload, current_user, form.reason.data or "")
    except app_actions.REFUSALS as refused:
        db.session.rollback()
        flash(str(refused), category="error")
    else:
        flash(_("Versi #%(id)d %(fqdn)s diterima dengan alasan tertulis; sedang dipasang.",
                id=upload.id, fqdn=upload.app.fqdn), category="info")
    return redirect(url_for("apps.reviews"))
