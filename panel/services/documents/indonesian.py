"""Dates, times, durations and scan verdicts as an Indonesian official letter writes them."""
from __future__ import annotations

from datetime import datetime, timezone

from panel import formatting
from panel.services.refused import Refused

MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
          "Oktober", "November", "Desember")
MONTHS_SHORT = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")

VERDICTS = {
    "clean": "Bersih",
    "review": "Perlu tinjauan, diterima oleh teknisi",
    "infected": "Terinfeksi, diblokir",
}


class LetterError(Refused):
    """The letter cannot be rendered from the data given (a missing fact or font)."""


def zone_of(name: str) -> timezone:
    """Return the fixed-offset zone for WIB, WITA or WIT (the UI's, `formatting.local_zone`)."""
    if name not in formatting.TIME_ZONES:
        raise LetterError(f"zona waktu tidak dikenal: {name!r} (WIB, WITA, WIT)")
    return formatting.local_zone(name)


def in_zone(moment: datetime, zone: str) -> datetime:
    """Return `moment` in the letter's zone."""
    # A naive datetime is taken as already in the letter's local time.
    return moment.astimezone(zone_of(zone)) if moment.tzinfo else moment


def format_date(moment: datetime, zone: str = "WIB") -> str:
    """Return the date as written in a letter: "22 November 2026"."""
    local = in_zone(moment, zone)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}"


def format_time(moment: datetime, zone: str = "WIB") -> str:
    """Return the clock time with a period and the zone: "14.05 WIB"."""
    local = in_zone(moment, zone)
    return f"{local:%H.%M} {zone}"


def format_datetime(moment: datetime, zone: str = "WIB") -> str:
    """Return "22 November 2026 pukul 14.05 WIB"."""
    return f"{format_date(moment, zone)} pukul {format_time(moment, zone)}"


def short_date(moment: datetime) -> str:
    """Return the date with the month abbreviated: "17 Agu 2026"."""
    return f"{moment.day} {MONTHS_SHORT[moment.month - 1]} {moment.year}"


def step_span(started: datetime | None, finished: datetime | None, zone: str) -> str:
    """Return a step's start and end for a narrow table cell: the date once, then the clock times."""
    if started is None:
        return "-"
    start = in_zone(started, zone)
    if finished is None:
        return f"{short_date(start)}\n{start:%H.%M} \u2013"
    end = in_zone(finished, zone)
    if end.date() == start.date():
        return f"{short_date(start)}\n{start:%H.%M} \u2013 {end:%H.%M}"
    return f"{short_date(start)} {start:%H.%M} \u2013\n{short_date(end)} {end:%H.%M}"


def format_duration(minutes: float | None) -> str:
    """Return a duration in Indonesian: "7 menit", "1 jam 5 menit", "2 hari 3 jam"."""
    if minutes is None:
        return "-"
    if 0 < minutes < 1:
        return "< 1 menit"
    total = max(0, round(minutes))
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} hari"] if days else []
    if hours:
        parts.append(f"{hours} jam")
    if mins and not days:  # minutes beside days are noise
        parts.append(f"{mins} menit")
    return " ".join(parts) or "0 menit"


def verdict_label(verdict: str) -> str:
    """Return the Indonesian label of a scan verdict, or the text as given when it is not a known one."""
    return VERDICTS.get(verdict.strip().lower(), verdict)
