"""The periods a report covers: a calendar month or a range of days, both in the Pemda's local time.

Months and dates are local (`PEMDA_TIMEZONE`); stored times are UTC.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from babel.dates import format_date
from flask_babel import get_locale

from panel import i18n
from panel.formatting import local_time, pemda_zone
from panel.i18n import gettext as _

YEARS = (2000, 2999)  # a year outside this is a typing mistake
_MONTH_TEXT = re.compile(r"(\d{4})-(\d{2})")


class InvalidPeriod(ValueError):
    """A month or date range the user asked for cannot be reported on; `errors` says why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in the Pemda's local time."""

    year: int
    month: int

    @classmethod
    def current(cls, now: datetime) -> Month:
        local = now.astimezone(pemda_zone())
        return cls(local.year, local.month)

    @classmethod
    def parse(cls, text: str | None, now: datetime) -> Month:
        """Read 'YYYY-MM' (the current month when empty); raise InvalidPeriod if it is not a past month."""
        current = cls.current(now)
        text = (text or "").strip()
        if not text:
            return current
        found = _MONTH_TEXT.fullmatch(text)
        if not found or not 1 <= int(found[2]) <= 12:
            raise InvalidPeriod([_("Bulan tidak valid: %(value)s. Gunakan format TTTT-BB, misalnya "
                                   "%(example)s.", value=repr(text[:20]), example=current.key)])
        month = cls(int(found[1]), int(found[2]))
        if not YEARS[0] <= month.year <= YEARS[1]:
            raise InvalidPeriod([_("Tahun harus antara %(first)d dan %(last)d.", first=YEARS[0],
                                   last=YEARS[1])])
        if month > current:
            raise InvalidPeriod([_("Bulan %(month)s belum berjalan; pilih %(current)s atau sebelumnya.",
                                   month=month.label, current=current.label)])
        return month

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """The month and year in the reader's language, e.g. 'Maret 2026' ('March 2026' in English)."""
        return format_date(self.first_day, "MMMM y", locale=get_locale() or i18n.DEFAULT_LOCALE)

    @property
    def short_name(self) -> str:
        """The month's abbreviated name in the reader's language, e.g. 'Agu' ('Aug' in English)."""
        return format_date(self.first_day, "LLL", locale=get_locale() or i18n.DEFAULT_LOCALE)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.shifted(1).first_day - timedelta(days=1)

    @property
    def start(self) -> datetime:
        """The month's first instant, in UTC."""
        return utc_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """The next month's first instant, in UTC (exclusive)."""
        return self.shifted(1).start

    def shifted(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)


@dataclass(frozen=True)
class DateRange:
    """Local days from `first` to `last`, both included."""

    first: date
    last: date

    @classmethod
    def parse(cls, args: Mapping[str, str], default: Month) -> DateRange:
        """Read `dari` and `sampai` (YYYY-MM-DD); either left empty takes `default`'s first or last day."""
        errors: list[str] = []
        days: dict[str, date] = {}
        for name, label, fallback in (("dari", _("Dari tanggal"), default.first_day),
                                      ("sampai", _("Sampai tanggal"), default.last_day)):
            text = (args.get(name) or "").strip()
            try:
                days[name] = date.fromisoformat(text) if text else fallback
            except ValueError:
                errors.append(_("%(field)s tidak valid: %(value)s. Gunakan format TTTT-BB-HH, "
                                "misalnya 2026-03-02.", field=label, value=repr(text[:20])))
                continue
            if not YEARS[0] <= days[name].year <= YEARS[1]:
                errors.append(_("%(field)s harus antara tahun %(first)d dan %(last)d.", field=label,
                                first=YEARS[0], last=YEARS[1]))
        if not errors and days["dari"] > days["sampai"]:
            errors.append(_("Dari tanggal tidak boleh sesudah sampai tanggal."))
        if errors:
            raise InvalidPeriod(errors)
        return cls(days["dari"], days["sampai"])

    @property
    def start(self) -> datetime:
        return utc_midnight(self.first)

    @property
    def end(self) -> datetime:
        return utc_midnight(self.last + timedelta(days=1))

    @property
    def slug(self) -> str:
        return f"{self.first:%Y%m%d}-{self.last:%Y%m%d}"


def utc_midnight(day: date) -> datetime:
    """Return the first instant of the local day `day`, in UTC."""
    return datetime.combine(day, time(), pemda_zone()).astimezone(UTC)


def local(moment: datetime | None) -> datetime | None:
    """Return a stored UTC time as a naive local time, the way a spreadsheet shows it."""
    return None if moment is None else local_time(moment).replace(tzinfo=None)
