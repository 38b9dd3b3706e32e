"""Working time: Mutu Baku counts only the minutes the offices work, per the Pemda's working calendar.

"1 hari" is one working day; nights, weekends, national holidays and cuti bersama do not count. The
calendar is data an administrator edits (working days and hours, holidays per year), read in the
Pemda's time zone. With no working day stored at all, every minute counts (the calendar is off).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from flask import has_app_context
from sqlalchemy import event, select

from panel import audit, timezones
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Holiday, HolidayKind, RequestStep, User, WorkingDay
from panel.services.refused import Refused

MAX_SEARCH_DAYS = 3660  # a deadline further than ten years of calendar days means no working day is left

# Mon–Thu 07:30–16:00, Fri 07:30–16:30: the usual hours of a Pemda office (an administrator edits them).
DEFAULT_HOURS: dict[int, tuple[time, time]] = {
    **{weekday: (time(7, 30), time(16, 0)) for weekday in range(4)},
    4: (time(7, 30), time(16, 30)),
}

# DATA TO VERIFY against the signed SKB 3 Menteri on Libur Nasional dan Cuti Bersama Tahun 2026
# (written from public announcements; an administrator corrects it on the calendar page).
HOLIDAYS_2026: tuple[tuple[date, str, HolidayKind], ...] = (
    (date(2026, 1, 1), "Tahun Baru 2026 Masehi", HolidayKind.NATIONAL),
    (date(2026, 1, 16), "Isra Mikraj Nabi Muhammad SAW", HolidayKind.NATIONAL),
    (date(2026, 2, 16), "Cuti bersama Tahun Baru Imlek 2577 Kongzili", HolidayKind.JOINT_LEAVE),
    (date(2026, 2, 17), "Tahun Baru Imlek 2577 Kongzili", HolidayKind.NATIONAL),
    (date(2026, 3, 18), "Cuti bersama Hari Suci Nyepi Tahun Baru Saka 1948", HolidayKind.JOINT_LEAVE),
    (date(2026, 3, 19), "Hari Suci Nyepi Tahun Baru Saka 1948", HolidayKind.NATIONAL),
    (date(2026, 3, 20), "Cuti bersama Idul Fitri 1447 Hijriah", HolidayKind.JOINT_LEAVE),
    (date(2026, 3, 21), "Idul Fitri 1447 Hijriah", HolidayKind.NATIONAL),
    (date(2026, 3, 22), "Idul Fitri 1447 Hijriah", HolidayKind.NATIONAL),
    (date(2026, 3, 23), "Cuti bersama Idul Fitri 1447 Hijriah", HolidayKind.JOINT_LEAVE),
    (date(2026, 3, 24), "Cuti bersama Idul Fitri 1447 Hijriah", HolidayKind.JOINT_LEAVE),
    (date(2026, 4, 3), "Wafat Yesus Kristus", HolidayKind.NATIONAL),
    (date(2026, 4, 5), "Kebangkitan Yesus Kristus (Paskah)", HolidayKind.NATIONAL),
    (date(2026, 5, 1), "Hari Buruh Internasional", HolidayKind.NATIONAL),
    (date(2026, 5, 14), "Kenaikan Yesus Kristus", HolidayKind.NATIONAL),
    (date(2026, 5, 15), "Cuti bersama Kenaikan Yesus Kristus", HolidayKind.JOINT_LEAVE),
    (date(2026, 5, 27), "Idul Adha 1447 Hijriah", HolidayKind.NATIONAL),
    (date(2026, 5, 28), "Cuti bersama Idul Adha 1447 Hijriah", HolidayKind.JOINT_LEAVE),
    (date(2026, 5, 31), "Hari Raya Waisak 2570 BE", HolidayKind.NATIONAL),
    (date(2026, 6, 1), "Hari Lahir Pancasila", HolidayKind.NATIONAL),
    (date(2026, 6, 16), "Tahun Baru Islam 1448 Hijriah", HolidayKind.NATIONAL),
    (date(2026, 8, 17), "Hari Kemerdekaan Republik Indonesia", HolidayKind.NATIONAL),
    (date(2026, 8, 25), "Maulid Nabi Muhammad SAW", HolidayKind.NATIONAL),
    (date(2026, 12, 24), "Cuti bersama Hari Raya Natal", HolidayKind.JOINT_LEAVE),
    (date(2026, 12, 25), "Hari Raya Natal", HolidayKind.NATIONAL),
)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working hours by weekday (Monday is 0) and days off, in the Pemda's time zone."""

    zone: tzinfo
    hours: Mapping[int, tuple[time, time]] = field(default_factory=dict)
    days_off: frozenset[date] = frozenset()

    @property
    def continuous(self) -> bool:
        """Return whether every minute counts (no working day is set)."""
        return not self.hours

    def period(self, day: date) -> tuple[datetime, datetime] | None:
        """Return the working period of `day` as aware datetimes, or None for a day off."""
        if day in self.days_off or day.weekday() not in self.hours:
            return None
        opens, closes = self.hours[day.weekday()]
        if closes <= opens:
            return None
        return (datetime.combine(day, opens, self.zone), datetime.combine(day, closes, self.zone))

    def working_minutes(self, start: datetime, end: datetime) -> float:
        """Return the working minutes between `start` and `end` (0 when `end` is not after `start`)."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            return 0.0
        if self.continuous:
            return (end - start) / timedelta(minutes=1)
        total = timedelta(0)
        day, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        while day <= last:
            period = self.period(day)
            if period is not None:
                overlap = min(end, period[1]) - max(start, period[0])
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total / timedelta(minutes=1)

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        """Return the moment `minutes` working minutes after `start` (a deadline), in UTC."""
        start = _aware(start)
        if self.continuous:
            return (start + timedelta(minutes=minutes)).astimezone(UTC)
        left = timedelta(minutes=minutes)
        day = start.astimezone(self.zone).date()
        for _searched in range(MAX_SEARCH_DAYS):
            period = self.period(day)
            if period is not None and period[1] > start:
                begin = max(start, period[0])
                if begin + left <= period[1]:
                    return (begin + left).astimezone(UTC)
                left -= period[1] - begin
            day += timedelta(days=1)
        raise ValueError("the working calendar has no working day left within ten years")


def load(zone: tzinfo | None = None) -> WorkingCalendar:
    """Read the working calendar from the database, in the Pemda's time zone (continuous without an app)."""
    if not has_app_context():
        return WorkingCalendar(zone or timezones.pemda_timezone({}))
    hours = {row.weekday: (row.opens_at, row.closes_at) for row in db.session.scalars(select(WorkingDay))}
    days_off = frozenset(db.session.scalars(select(Holiday.day)))
    return WorkingCalendar(zone or timezones.pemda_timezone(), hours, days_off)


def ensure_seeded() -> None:
    """Store the default working hours and the 2026 holidays where the calendar has none of them yet."""
    if db.session.scalar(select(WorkingDay.weekday).limit(1)) is None:
        db.session.add_all(WorkingDay(weekday=weekday, opens_at=opens, closes_at=closes)
                           for weekday, (opens, closes) in DEFAULT_HOURS.items())
    seed_holidays(HOLIDAYS_2026)
    db.session.flush()


def seed_holidays(holidays: Iterable[tuple[date, str, HolidayKind]]) -> None:
    """Add the holidays of a year the calendar holds none of yet (an edited year is left alone)."""
    by_year: dict[int, list[tuple[date, str, HolidayKind]]] = {}
    for holiday in holidays:
        by_year.setdefault(holiday[0].year, []).append(holiday)
    for year, days in by_year.items():
        known = db.session.scalar(select(Holiday.id).where(
            Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31)).limit(1))
        if known is None:
            db.session.add_all(Holiday(day=day, name=name, kind=kind) for day, name, kind in days)


class CalendarRefused(Refused):
    """The calendar cannot be changed as asked; the message says why."""


def set_hours(user: User, hours: Mapping[int, tuple[time, time] | None]) -> None:
    """Replace the working hours of the given weekdays (None: a day off), audited."""
    for weekday, period in hours.items():
        if not 0 <= weekday <= 6:
            raise CalendarRefused(_("Hari tidak dikenal."))
        if period is not None and period[1] <= period[0]:
            raise CalendarRefused(_("Jam pulang harus setelah jam masuk."))
    for weekday, period in hours.items():
        row = db.session.get(WorkingDay, weekday)
        if period is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(WorkingDay(weekday=weekday, opens_at=period[0], closes_at=period[1]))
        else:
            row.opens_at, row.closes_at = period
    db.session.flush()
    audit.record("calendar.hours", None, actor=user, hours={
        str(day): f"{p[0]:%H:%M}-{p[1]:%H:%M}" if p else None for day, p in sorted(hours.items())})


def add_holiday(user: User, day: date, name: str, kind: HolidayKind) -> Holiday:
    """Add a holiday or cuti bersama day, audited; a day already in the calendar is refused."""
    if not name.strip():
        raise CalendarRefused(_("Nama hari libur wajib diisi."))
    if db.session.scalar(select(Holiday.id).where(Holiday.day == day)) is not None:
        raise CalendarRefused(_("Tanggal %(day)s sudah ada di kalender.", day=day.isoformat()))
    holiday = Holiday(day=day, name=name.strip()[:200], kind=kind)
    db.session.add(holiday)
    db.session.flush()
    audit.record("calendar.holiday_add", holiday, actor=user, day=day.isoformat(), kind=kind)
    return holiday


def remove_holiday(user: User, holiday: Holiday) -> None:
    """Remove a holiday from the calendar, audited."""
    audit.record("calendar.holiday_remove", holiday, actor=user, day=holiday.day.isoformat())
    db.session.delete(holiday)
    db.session.flush()


def holidays_of(year: int) -> list[Holiday]:
    """Return the year's holidays and cuti bersama days, in date order."""
    return list(db.session.scalars(select(Holiday).where(
        Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31)).order_by(Holiday.day)))


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back naive; they are stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def deadline(started_at: datetime, due_minutes: int | None,
             calendar: WorkingCalendar | None = None) -> datetime | None:
    """Return when a step opened at `started_at` runs out of its Mutu Baku, in working time (UTC)."""
    if due_minutes is None:
        return None
    return (calendar or load()).add_working_minutes(started_at, due_minutes)


# A step's deadline follows its start and its time limit, however they are set (opening, a correction).
@event.listens_for(RequestStep.started_at, "set")
def _started(step: RequestStep, value: datetime | None, _old: object, _initiator: object) -> None:
    _fix_deadline(step, value, step.due_minutes)


@event.listens_for(RequestStep.due_minutes, "set")
def _limited(step: RequestStep, value: int | None, _old: object, _initiator: object) -> None:
    _fix_deadline(step, step.started_at, value)


def _fix_deadline(step: RequestStep, started_at: datetime | None, due_minutes: int | None) -> None:
    if started_at is None or due_minutes is None:
        step.due_at = None
        return
    if not has_app_context():
        step.due_at = deadline(started_at, due_minutes, load())
        return
    with db.session.no_autoflush:
        step.due_at = deadline(started_at, due_minutes)
