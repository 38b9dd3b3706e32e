"""The Web Panel's backups and findings tabs: backups taken and restored, quarantined files handled."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField
from wtforms.validators import DataRequired, NumberRange, Optional

from panel import gateway, jobs
from panel.actions import apps as app_actions
from panel.blueprints.webpanel_common import (
    bp,
    launch,
    load_app,
    render_page,
    require_posted,
    show_refusal,
    to_tab,
)
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import App, User
from panel.permissions import (
    APP_MANAGERS,
    BACKUP_SCHEDULERS,
    FINDING_HANDLERS,
    login_required,
    require_role,
)
from panel.services.apps import app_operations, recovery

BACKUP_REASONS = {"manual": _l("Diminta"), "terjadwal": _l("Terjadwal"),
                  "sebelum-pemulihan": _l("Sebelum pemulihan")}
FINDING_ACTIONS = {"quarantined": _l("Dikarantina"), "reported": _l("Dilaporkan"),
                   "released": _l("Dipulihkan"), "deleted": _l("Dihapus")}


class BackupScheduleForm(FlaskForm):
    hours = IntegerField(_l("Cadangkan setiap (jam)"),
                         validators=[Optional(),
                                     NumberRange(0, recovery.BACKUP_HOURS_MAX)],
                         description=_l("0: hanya bila diminta"))


class RestoreForm(FlaskForm):
    confirm = BooleanField(_l("Saya mengerti: data dan basis data aplikasi diganti isi cadangan ini "
                              "(cadangan pengaman dibuat lebih dulu)"),
                           validators=[DataRequired(_l("Centang untuk memastikan."))])
    into_app_id = IntegerField(_l("Pulihkan ke aplikasi lain (id, opsional)"), validators=[Optional()])


@bp.get("/backups")
@login_required
def backups(app_id: int) -> Any:
    app = load_app(app_id)
    taken, restored = jobs.latest(app_actions.BACKUP, app), jobs.latest(app_actions.RESTORE, app)
    schedule = jobs.latest(app_actions.BACKUP_SCHEDULE, app)
    items, unavailable = [], None
    if app.live_release is not None and app.host is not None:
        try:
            items = recovery.list_backups(app, gateway.agents())
        except app_operations.OperationRefused as refused:
            unavailable = str(refused)
    return render_page("webpanel/backups.html", app, "backups", [taken, restored, schedule], taken=taken,
                       restored=restored, schedule=schedule, items=items, unavailable=unavailable,
                       reasons=BACKUP_REASONS, restore_form=RestoreForm(formdata=None),
                       schedule_form=BackupScheduleForm(formdata=None, hours=app.backup_hours),
                       can_schedule=current_user.has_role(*BACKUP_SCHEDULERS))


@bp.post("/backups")
@require_role(*APP_MANAGERS)
def take_backup(app_id: int) -> Any:
    return launch(app_id, app_actions.start_backup, "backups")


@bp.post("/backups/<backup_id>/restore")
@require_role(*APP_MANAGERS)
def restore_backup(app_id: int, backup_id: str) -> Any:
    app = load_app(app_id)
    form = RestoreForm()
    if not form.validate_on_submit():
        flash(_("Centang pernyataan untuk memulihkan cadangan."), category="error")
        return to_tab("backups", app)
    try:
        app_actions.start_restore(app, current_user, backup_id, form.into_app_id.data)  # type: ignore[arg-type]
        db.session.commit()
    except app_actions.REFUSALS as refused:
        show_refusal(refused)
    return to_tab("backups", app)


@bp.post("/backups/schedule")
@require_role(*BACKUP_SCHEDULERS)
def set_backup_schedule(app_id: int) -> Any:
    app = load_app(app_id)
    form = BackupScheduleForm()
    if form.validate_on_submit() and form.hours.data is not None:
        try:
            app_actions.start_backup_schedule(app, current_user, form.hours.data)  # type: ignore[arg-type]
        except app_actions.REFUSALS as refused:
            show_refusal(refused)
    else:
        flash(_("Jadwal cadangan harus bilangan bulat 0 sampai %(max)d jam.",
                max=recovery.BACKUP_HOURS_MAX), category="error")
    return to_tab("backups", app)


@bp.get("/findings")
@login_required
def findings(app_id: int) -> Any:
    app = load_app(app_id)
    unavailable = None
    if app.live_release is not None and app.host is not None:
        try:  # what the host found since the last periodic look, shown now
            app_actions.refresh_findings(app)
            db.session.commit()
        except app_operations.OperationRefused as refused:
            db.session.rollback()
            unavailable = str(refused)
    return render_page("webpanel/findings.html", app, "findings", [], items=recovery.findings_of(app),
                       actions=FINDING_ACTIONS, unavailable=unavailable,
                       can_handle=current_user.has_role(*FINDING_HANDLERS))


@bp.post("/findings/<int:finding_id>/release")
@require_role(*FINDING_HANDLERS)
def release_finding(app_id: int, finding_id: int) -> Any:
    return _handle_finding(app_id, finding_id, app_actions.release_finding,
                           _l("Berkas dipulihkan ke tempatnya dan dilayani lagi."))


@bp.post("/findings/<int:finding_id>/delete")
@require_role(*FINDING_HANDLERS)
def delete_finding(app_id: int, finding_id: int) -> Any:
    return _handle_finding(app_id, finding_id, app_actions.delete_finding, _l("Bukti temuan dihapus."))


def _handle_finding(app_id: int, finding_id: int, handle: Callable[[App, User, int], None],
                    done: Any) -> Any:
    app = load_app(app_id)
    require_posted()
    try:
        handle(app, current_user, finding_id)  # type: ignore[arg-type]
        db.session.commit()
        flash(str(done), category="info")
    except app_actions.REFUSALS as refused:
        show_refusal(refused)
    return to_tab("findings", app)
