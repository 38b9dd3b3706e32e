"""Searching and exporting the audit trail: a filter read from a query string, one select, keyset pages.

The trail grows without bound, so nothing here counts the table or skips rows with OFFSET: pages are
cut by id, and the export streams rows in chunks.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, func, select

from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import AuditEvent
from panel.services.documents import spreadsheets

PAGE_SIZE = 50
EXPORT_CHUNK_ROWS = 1000
PREFIX_MARK = "*"  # a value ending in * matches by prefix: "opd.*", "10.20.*"

# Query-string name → (attribute, label used in error messages, longest value a column can hold)
_TEXT_FIELDS = {
    "actor": ("actor", _l("Pelaku"), 64),
    "action": ("action", _l("Aksi"), 64),
    "target_type": ("target_type", _l("Jenis target"), 32),
    "target_id": ("target_id", _l("ID target"), 64),
    "ip": ("ip", _l("Alamat IP"), 45),
    "q": ("text", _l("Teks dalam rincian"), 200),
}
_DATE_FIELDS = {"from": ("since", _l("Dari tanggal")), "to": ("until", _l("Sampai tanggal"))}
_YEARS = (1970, 2999)  # far-off dates are typing mistakes, and year 1 or 9999 overflows in UTC
_CURSOR_FIELDS = ("before", "after")
_BAD_CURSOR = _l("Penanda halaman tidak valid; mulai lagi dari halaman pertama.")
_CSV_HEADER = ("id", "waktu", "pelaku", "aksi", "jenis_target", "id_target", "ip", "rincian")


class InvalidFilter(ValueError):
    """The query string does not describe a search; `errors` says why, one message per fault."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Filter:
    """What to look for in the trail; empty fields match everything. Dates are local, inclusive."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    ip: str = ""
    text: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> Filter:
        """Read a filter from query-string `args`; raise InvalidFilter listing every bad value."""
        values: dict[str, Any] = {}
        errors: list[str] = []
        for name, (attribute, label, longest) in _TEXT_FIELDS.items():
            value = (args.get(name) or "").strip()
            if len(value) > longest:
                errors.append(_("%(field)s terlalu panjang (paling banyak %(count)d karakter).", field=label,
                                 count=longest))
            values[attribute] = value
        for name, (attribute, label) in _DATE_FIELDS.items():
            value = (args.get(name) or "").strip()
            try:
                values[attribute] = date.fromisoformat(value) if value else None
            except ValueError:
                errors.append(_("%(field)s tidak valid: %(value)s. Gunakan format TTTT-BB-HH, "
                                "misalnya 2026-03-02.", field=label, value=repr(value)))
                continue
            if values[attribute] and not _YEARS[0] <= values[attribute].year <= _YEARS[1]:
                errors.append(_("%(field)s harus antara tahun %(first)d dan %(last)d.", field=label,
                                 first=_YEARS[0], last=_YEARS[1]))
        if values.get("since") and values.get("until") and values["since"] > values["until"]:
            errors.append(_("Dari tanggal tidak boleh sesudah sampai tanggal."))
        if errors:
            raise InvalidFilter(errors)
        return cls(**values)

    def to_args(self) -> dict[str, str]:
        """Return the query-string arguments that parse back into this filter (empty ones left out)."""
        args = {name: getattr(self, attribute) for name, (attribute, _, _) in _TEXT_FIELDS.items()}
        args.update((name, getattr(self, attribute).isoformat())
                     for name, (attribute, _) in _DATE_FIELDS.items() if getattr(self, attribute))
        return {name: value for name, value in args.items() if value}


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: strictly older than `before`, or strictly newer than `after`."""

    before: int | None = None
    after: int | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> Cursor:
        """Read the page cursor from query-string `args`; raise InvalidFilter if it is not an id."""
        values: dict[str, int] = {}
        for name in _CURSOR_FIELDS:
            value = (args.get(name) or "").strip()
            if not value:
                continue
            if not value.isdigit() or len(value) > 18:  # an id, within a 64-bit integer
                raise InvalidFilter([str(_BAD_CURSOR)])
            values[name] = int(value)
        if len(values) > 1:
            raise InvalidFilter([str(_BAD_CURSOR)])
        return cls(**values)


@dataclass(frozen=True)
class Page:
    events: list[AuditEvent]  # newest first
    newer: int | None  # the `after` cursor of the newer page, if there is one
    older: int | None  # the `before` cursor of the older page, if there is one


def events(search: Filter, zone: tzinfo) -> Select[AuditEvent]:
    """Return the select of the audit events matching `search` (dates read in `zone`), newest first."""
    return select(AuditEvent).where(*_conditions(search, zone)).order_by(AuditEvent.id.desc())


def page(search: Filter, zone: tzinfo, cursor: Cursor | None = None, size: int = PAGE_SIZE) -> Page:
    """Return one page of matching events, cut by id rather than by OFFSET."""
    cursor = cursor or Cursor()
    query = events(search, zone).limit(size + 1)
    if cursor.after is not None:
        # Walk towards newer events from the cursor, then show them newest first like any page.
        query = query.where(AuditEvent.id > cursor.after).order_by(None).order_by(AuditEvent.id)
        found = list(db.session.scalars(query))
        shown = list(reversed(found[:size]))
        more_newer, more_older = len(found) > size, True
    else:
        if cursor.before is not None:
            query = query.where(AuditEvent.id < cursor.before)
        found = list(db.session.scalars(query))
        shown = found[:size]
        more_newer, more_older = cursor.before is not None, len(found) > size
    return Page(
        events=shown,
        newer=shown[0].id if shown and more_newer else None,
        older=shown[-1].id if shown and more_older else None,
    )


def actions() -> list[str]:
    """List the distinct actions in the trail, hopping through the action index one value at a time."""
    # SELECT DISTINCT would read the whole index; this recursive walk reads one entry per action.
    first = select(func.min(AuditEvent.action).label("action")).cte("known_actions", recursive=True)
    following = select(
        select(func.min(AuditEvent.action)).where(AuditEvent.action > first.c.action).scalar_subquery()
    ).where(first.c.action.is_not(None))
    walk = first.union_all(following)
    return list(db.session.scalars(
        select(walk.c.action).where(walk.c.action.is_not(None)).order_by(walk.c.action)))


def action_prefixes(known: list[str]) -> list[str]:
    """Return the `group.*` prefixes that cover the dotted actions in `known`, e.g. 'request.*'."""
    return sorted({action.split(".", 1)[0] + "." + PREFIX_MARK for action in known if "." in action})


def key_values(details: Mapping[str, Any] | None) -> str:
    """Write an event's details as space-separated key=value pairs, keys in order."""
    items = details or {}
    parts = []
    for key in sorted(items):
        value = items[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def csv_chunks(search: Filter, zone: tzinfo, chunk_rows: int = EXPORT_CHUNK_ROWS) -> Iterator[str]:
    """Yield the matching events as CSV text, a header and then one piece per chunk of rows."""
    columns = select(AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action,
                     AuditEvent.target_type, AuditEvent.target_id, AuditEvent.ip, AuditEvent.details)
    query = columns.where(*_conditions(search, zone)).order_by(AuditEvent.id.desc())
    # yield_per streams from a server-side cursor where the driver has one; memory stays one chunk.
    result = db.session.execute(query.execution_options(yield_per=chunk_rows))
    rows = ((event_id, _local(at, zone).isoformat(timespec="seconds"), actor, action, target_type,
             target_id, ip, key_values(details))
            for event_id, at, actor, action, target_type, target_id, ip, details in result)
    return spreadsheets.csv_chunks(_CSV_HEADER, rows, chunk_rows)


def _conditions(search: Filter, zone: tzinfo) -> list[ColumnElement[bool]]:
    conditions = []
    for column, value in ((AuditEvent.actor, search.actor), (AuditEvent.action, search.action),
                          (AuditEvent.target_type, search.target_type),
                          (AuditEvent.target_id, search.target_id), (AuditEvent.ip, search.ip)):
        if value:
            conditions.append(_matches(column, value))
    if search.since is not None:
        conditions.append(AuditEvent.at >= _start_of(search.since, zone))
    if search.until is not None:
        conditions.append(AuditEvent.at < _start_of(search.until + timedelta(days=1), zone))
    if search.text:
        # Details are JSON; their text form is what a reader searches, whatever the key.
        details_text = func.lower(cast(AuditEvent.details, String))
        conditions.append(details_text.contains(search.text.lower(), autoescape=True))
    return conditions


def _matches(column: Any, value: str) -> ColumnElement[bool]:
    if value.endswith(PREFIX_MARK):
        return column.startswith(value.rstrip(PREFIX_MARK), autoescape=True)
    return column == value


def _start_of(day: date, zone: tzinfo) -> datetime:
    # Stored times are UTC (SQLite keeps them naive, dropping the zone), so compare in UTC.
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _local(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)

