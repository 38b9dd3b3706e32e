"""The Pemda's working calendar: working days and hours, national holidays and cuti bersama."""
from __future__ import annotations

import enum
from datetime import date, time

from sqlalchemy import Date, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from panel.models.base import Model, intpk


class HolidayKind(enum.StrEnum):
    NATIONAL = "libur_nasional"
    JOINT_LEAVE = "cuti_bersama"


class WorkingDay(Model):
    """One weekday the offices work (Monday is 0), with its opening and closing time; absent days are off."""

    __tablename__ = "working_days"
    weekday: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    opens_at: Mapped[time] = mapped_column(Time)
    closes_at: Mapped[time] = mapped_column(Time)


class Holiday(Model):
    """A day off on a working day: a national holiday or cuti bersama, per the year's SKB."""

    __tablename__ = "holidays"
    id: Mapped[intpk]
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[HolidayKind] = mapped_column(String(20), default=HolidayKind.NATIONAL)
