"""The working calendar page under Administrasi: working days and hours, holidays and cuti bersama.

Its routes join the admin blueprint (`register`), so the page lives under /admin with the others.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from panel import timezones
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import Holiday, HolidayKind, RoleKey
from panel.models.base import utcnow
from panel.permissions import require_role
from panel.services.requests import working_time

WEEKDAYS = (_l("Senin"), _l("Selasa"), _l("Rabu"), _l("Kamis"), _l("Jumat"), _l("Sabtu"), _l("Minggu"))
KIND_LABELS = {HolidayKind.NATIONAL: _l("Libur nasional"), HolidayKind.JOINT_LEAVE: _l("Cuti bersama")}


class HoursForm(FlaskForm):
    """One row per weekday: whether it is worked, and from when to when."""


for _day in range(7):
    setattr(HoursForm, f"works_{_day}", BooleanField(WEEKDAYS[_day]))
    setattr(HoursForm, f"opens_{_day}", TimeField(_l("Jam masuk"), validators=[Optional()]))
    setattr(HoursForm, f"closes_{_day}", TimeField(_l("Jam pulang"), validators=[Optional()]))


class HolidayForm(FlaskForm):
    day = DateField(_l("Tanggal"), validators=[DataRequired()])
    name = StringField(_l("Keterangan"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Jenis"),
                       choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()])


def register(bp: Blueprint) -> None:
    """Add the calendar's routes to the admin blueprint."""
    bp.add_url_rule("/calendar", "working_calendar", working_calendar, methods=["GET"])
    bp.add_url_rule("/calendar/hours", "save_working_hours", save_working_hours, methods=["POST"])
    bp.add_url_rule("/calendar/holidays", "add_holiday", add_holiday, methods=["POST"])
    bp.add_url_rule("/calendar/holidays/<int:holiday_id>/delete", "remove_holiday", remove_holiday,
                    methods=["POST"])


def _year() -> int:
    raw = request.args.get("year", "")
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else utcnow().year


@require_role(RoleKey.SUPERADMIN)
def working_calendar() -> Any:
    return _page(_year(), _hours_form(), HolidayForm(formdata=None))


@require_role(RoleKey.SUPERADMIN)
def save_working_hours() -> Any:
    form = HoursForm()
    if form.validate_on_submit():
        hours = {}
        for day in range(7):
            works, opens, closes = (getattr(form, f"{part}_{day}").data
                                    for part in ("works", "opens", "closes"))
            if works and (opens is None or closes is None):
                flash(_("%(day)s: isi jam masuk dan jam pulang.", day=WEEKDAYS[day]), category="error")
                return _page(_year(), form, HolidayForm(formdata=None))
            hours[day] = (opens, closes) if works else None
        try:
            working_time.set_hours(current_user, hours)
        except working_time.CalendarRefused as refused:
            db.session.rollback()
            flash(str(refused), category="error")
            return _page(_year(), form, HolidayForm(formdata=None))
        db.session.commit()
        flash(_("Jam kerja disimpan."), category="info")
    return redirect(url_for("admin.working_calendar"))


@require_role(RoleKey.SUPERADMIN)
def add_holiday() -> Any:
    form = HolidayForm()
    if not form.validate_on_submit() or form.day.data is None:
        return _page(_year(), _hours_form(), form)
    try:
        working_time.add_holiday(current_user, form.day.data, form.name.data or "",
                                 HolidayKind(form.kind.data))
    except (working_time.CalendarRefused, ValueError) as refused:
        db.session.rollback()
        flash(str(refused), category="error")
        return _page(form.day.data.year, _hours_form(), form)
    db.session.commit()
    flash(_("Hari libur ditambahkan."), category="info")
    return redirect(url_for("admin.working_calendar", year=form.day.data.year))


@require_role(RoleKey.SUPERADMIN)
def remove_holiday(holiday_id: int) -> Any:
    holiday = db.get_or_404(Holiday, holiday_id)
    if FlaskForm().validate_on_submit():
        year = holiday.day.year
        working_time.remove_holiday(current_user, holiday)
        db.session.commit()
        flash(_("Hari libur dihapus."), category="info")
        return redirect(url_for("admin.working_calendar", year=year))
    return redirect(url_for("admin.working_calendar"))


def _hours_form() -> HoursForm:
    form = HoursForm(formdata=None)
    calendar = working_time.load()
    for day in range(7):
        period = calendar.hours.get(day)
        getattr(form, f"works_{day}").data = period is not None
        getattr(form, f"opens_{day}").data = period[0] if period else None
        getattr(form, f"closes_{day}").data = period[1] if period else None
    return form


def _page(year: int, hours_form: HoursForm, holiday_form: HolidayForm) -> Any:
    zone = timezones.pemda_timezone()
    return render_template("admin/working_calendar.html", year=year, hours_form=hours_form,
                           holiday_form=holiday_form, holidays=working_time.holidays_of(year),
                           weekdays=WEEKDAYS, kind_labels=KIND_LABELS, zone=zone.tzname(None) or str(zone),
                           delete_form=FlaskForm(), today=date.today())
