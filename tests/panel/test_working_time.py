"""Working time: the arithmetic of working minutes, the Pemda's time zone, and Mutu Baku counted in it."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import AuditEvent, Holiday, HolidayKind, RoleKey, WorkingDay
from panel.services.requests import sla, workflow, working_time
from panel.services.requests.working_time import DEFAULT_HOURS, WorkingCalendar
from panel.timezones import INDONESIAN_ZONES, pemda_timezone
from tests.panel import factories, flow

WIB, WITA, WIT = INDONESIAN_ZONES["WIB"], INDONESIAN_ZONES["WITA"], INDONESIAN_ZONES["WIT"]
INDEPENDENCE_DAY = date(2026, 8, 17)  # a Monday


def _calendar(zone=WIB, holidays=(INDEPENDENCE_DAY,)) -> WorkingCalendar:  # type: ignore[no-untyped-def]
    return WorkingCalendar(zone, DEFAULT_HOURS, frozenset(holidays))


def at(day: int, hour: int, minute: int = 0, month: int = 8, zone=WIB) -> datetime:  # type: ignore[no-untyped-def]
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


@pytest.mark.parametrize(("start", "end", "minutes"), [
    (at(10, 8), at(10, 9), 60),  # Monday, within hours
    (at(10, 6), at(10, 8), 30),  # before opening counts from 07:30
    (at(10, 15), at(11, 8, 30), 120),  # the night does not count: 15:00–16:00 and 07:30–08:30
    (at(14, 16), at(17, 12), 30),  # Friday closes at 16:30; Sat, Sun and 17 August do not count
    (at(14, 16), at(18, 8), 60),  # ...so Tuesday 07:30–08:00 is the next half hour
    (at(15, 10), at(16, 20), 0),  # a weekend only
    (at(17, 9), at(17, 15), 0),  # a holiday only
    (at(10, 17), at(10, 20), 0),  # after hours
    (at(10, 9), at(10, 8), 0),  # an end before the start
])
def test_working_minutes(start: datetime, end: datetime, minutes: float) -> None:
    assert _calendar().working_minutes(start, end) == pytest.approx(minutes)


def test_one_working_day_is_a_working_day_not_24_hours() -> None:
    calendar, day = _calendar(), 8 * 60 + 30  # Mon–Thu 07:30–16:00
    assert calendar.add_working_minutes(at(11, 7, 30), day) == at(11, 16).astimezone(UTC)
    assert calendar.add_working_minutes(at(11, 12), day) == at(12, 12).astimezone(UTC)
    # Friday noon plus a day: the rest of Friday (270), then Tuesday, as Monday is 17 August.
    assert calendar.add_working_minutes(at(14, 12), day) == at(18, 11, 30).astimezone(UTC)


@pytest.mark.parametrize("start", [at(10, 6), at(10, 9, 15), at(14, 16, 10), at(15, 11), at(17, 8)])
@pytest.mark.parametrize("minutes", [1, 5, 60, 510, 2000])
def test_a_deadline_is_exactly_its_working_minutes_away(start: datetime, minutes: int) -> None:
    calendar = _calendar()
    deadline = calendar.add_working_minutes(start, minutes)
    assert calendar.working_minutes(start, deadline) == pytest.approx(minutes)
    assert calendar.working_minutes(start, deadline - timedelta(seconds=1)) < minutes


def test_the_same_instant_counts_in_the_pemdas_own_zone() -> None:
    start = datetime(2026, 8, 10, 0, 0, tzinfo=UTC)  # 07:00 WIB, 08:00 WITA, 09:00 WIT
    end = start + timedelta(hours=1)
    assert _calendar(WIB).working_minutes(start, end) == pytest.approx(30)
    assert _calendar(WITA).working_minutes(start, end) == pytest.approx(60)
    assert _calendar(WIT).working_minutes(start, end) == pytest.approx(60)
    # Late in the UTC day it is already the next local day in WIT: a Saturday counts nothing.
    friday_night = datetime(2026, 8, 14, 16, 0, tzinfo=UTC)  # Sat 01:00 WIT, Fri 23:00 WIB
    assert _calendar(WIT).working_minutes(friday_night, friday_night + timedelta(hours=8)) == 0


def test_indonesian_zones_keep_no_daylight_saving_time() -> None:
    for name, hours in (("WIB", 7), ("WITA", 8), ("WIT", 9)):
        zone = pemda_timezone({"PEMDA_TIMEZONE": name})
        for month in (1, 4, 7, 10):
            assert zone.utcoffset(datetime(2026, month, 1)) == timedelta(hours=hours)
    calendar = _calendar(WITA)
    # A week's working minutes are the same in January as in July.
    january = calendar.working_minutes(datetime(2026, 1, 5, tzinfo=WITA), datetime(2026, 1, 10, tzinfo=WITA))
    july = calendar.working_minutes(datetime(2026, 7, 6, tzinfo=WITA), datetime(2026, 7, 11, tzinfo=WITA))
    assert january == july == 4 * 510 + 540


def test_the_pemda_zone_comes_from_one_place() -> None:
    assert pemda_timezone({"PEMDA_TIMEZONE": "WITA"}) is WITA
    assert pemda_timezone({"PEMDA_TIMEZONE": "wit"}) is WIT
    assert pemda_timezone({"PEMDA_TIMEZONE": "Asia/Makassar"}) is WITA
    assert pemda_timezone({}) is WIB


def test_without_working_days_every_minute_counts() -> None:
    calendar = WorkingCalendar(WIB)
    assert calendar.continuous
    assert calendar.working_minutes(at(15, 10), at(16, 10)) == pytest.approx(24 * 60)


def test_naive_timestamps_are_utc() -> None:
    start = datetime(2026, 8, 10, 1, 0)  # 08:00 WIB, as SQLite hands it back
    assert _calendar().working_minutes(start, start + timedelta(hours=1)) == pytest.approx(60)


def test_the_seeded_calendar_has_2026_holidays_and_cuti_bersama(app: Flask) -> None:
    working_time.ensure_seeded()
    working_time.ensure_seeded()  # a second upgrade adds nothing
    days = {h.day: h.kind for h in working_time.holidays_of(2026)}
    assert days[INDEPENDENCE_DAY] == HolidayKind.NATIONAL
    assert days[date(2026, 12, 24)] == HolidayKind.JOINT_LEAVE
    assert len(days) == len(working_time.HOLIDAYS_2026)
    calendar = working_time.load()
    assert calendar.hours[4] == (time(7, 30), time(16, 30)) and 5 not in calendar.hours


def test_an_overdue_check_counts_working_time(app: Flask) -> None:
    app.config["PEMDA_TIMEZONE"] = "WIB"
    working_time.ensure_seeded()
    filed = factories.hosting_request()  # opens the Kabid's step: Mutu Baku 5 minutes
    step = workflow.current_step(filed)
    # Friday, two minutes before closing (stored in UTC, as every timestamp is)
    step.started_at = datetime(2026, 12, 4, 16, 28, tzinfo=WIB).astimezone(UTC)
    db.session.commit()
    monday_early = datetime(2026, 12, 7, 7, 31, tzinfo=WIB)  # three days later, three working minutes
    assert sla.overdue_steps(monday_early) == []
    assert sla.step_timing(step, monday_early).state == sla.TimingState.ON_TIME
    assert sla.step_timing(step, monday_early).elapsed_minutes == pytest.approx(3)
    monday_later = datetime(2026, 12, 7, 7, 34, tzinfo=WIB)  # six working minutes
    assert sla.overdue_steps(monday_later) == [step]
    assert sla.step_timing(step, monday_later).state == sla.TimingState.OVERDUE
    # Finished then, it was late by the same measure in the reports' figures.
    step.finished_at = monday_later.astimezone(UTC)
    db.session.commit()
    [figures] = [c for c in sla.compliance() if c.step_key == step.step_key]
    assert (figures.on_time, figures.median_elapsed_minutes) == (0, pytest.approx(6))
    on_time = select(sla.finished_on_time()).where(sla.RequestStep.id == step.id)
    assert db.session.scalar(on_time) in (0, False)


def test_the_calendar_page_edits_hours_and_holidays(app: Flask, client, login_as) -> None:
    working_time.ensure_seeded()
    db.session.commit()
    login_as(RoleKey.SUPERADMIN)
    page = client
    shown = page.get("/admin/calendar?year=2026").get_data(as_text=True)
    assert "Kalender kerja" in shown and "Hari Kemerdekaan Republik Indonesia" in shown
    hours = {f"works_{d}": "y" for d in range(5)}
    hours.update({f"opens_{d}": "08:00" for d in range(5)})
    hours.update({f"closes_{d}": "16:00" for d in range(5)})
    flow.post(page, "/admin/calendar/hours", **hours)
    assert db.session.get(WorkingDay, 4).closes_at == time(16, 0)
    flow.post(page, "/admin/calendar/hours", **dict(hours, closes_0="07:00"))  # closing before opening
    db.session.expire_all()
    assert db.session.get(WorkingDay, 0).closes_at == time(16, 0)
    flow.post(page, "/admin/calendar/holidays", day="2027-01-01", name="Tahun Baru 2027 Masehi",
              kind="libur_nasional")
    added = db.session.scalar(select(Holiday).where(Holiday.day == date(2027, 1, 1)))
    assert added is not None and added.name == "Tahun Baru 2027 Masehi"
    flow.post(page, "/admin/calendar/holidays", day="2027-01-01", name="Lagi", kind="libur_nasional")
    assert len(working_time.holidays_of(2027)) == 1
    flow.post(page, f"/admin/calendar/holidays/{added.id}/delete")
    assert working_time.holidays_of(2027) == []
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"calendar.hours", "calendar.holiday_add", "calendar.holiday_remove"} <= actions
