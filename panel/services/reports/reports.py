"""Reports for officials (Laporan): a month's apps, requests, Mutu Baku, scans and server capacity, and
the inventory and the requests' step timings as spreadsheet rows.

Labels, chart titles and error messages follow the reader's language; the PDF and the exports are made in
Bahasa Indonesia (the blueprint forces it, panel/i18n.py) and the exports' own words are not translated.

Every figure is one SQL GROUP BY, so a report costs the same few statements however much data there
is; the exports read their rows in chunks. Months and dates are local (`PEMDA_TIMEZONE`), stored times
are UTC.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from babel.dates import format_date
from flask_babel import get_locale
from markupsafe import Markup
from sqlalchemy import JSON, ColumnElement, Row, Select, and_, case, column, func, select, true
from sqlalchemy.orm import aliased

from panel import charts, i18n
from panel.extensions import db
from panel.formatting import (
    APP_STATUS_LABELS,
    REQUEST_STATUS_LABELS,
    STACK_LABELS,
    VERDICT_LABELS,
    angka,
    local_time,
    pemda_zone,
)
from panel.i18n import gettext as _
from panel.i18n import ngettext
from panel.models import (
    App,
    AppStatus,
    Host,
    HostingRequest,
    HostStatus,
    Opd,
    RequestStep,
    ScanReport,
    SopTemplateVersion,
    User,
    Verdict,
)
from panel.services.apps import inventory
from panel.services.documents.spreadsheets import Cell
from panel.services.requests import sla, sop

YEARS = (2000, 2999)  # a year outside this is a typing mistake
TREND_MONTHS = 12
TOP_RULES = 10
CHART_BARS = 15  # a chart shows this many categories and folds the rest into "Lainnya"; tables show all
EXPORT_CHUNK_ROWS = 1000
# The verdicts that stop a release outright; REVIEW waits for a technician's written reason.
BLOCKING = (Verdict.INFECTED, Verdict.REJECTED, Verdict.ERROR)
UNPLACED = "Belum ditempatkan"  # in the inventory export, which stays in Indonesian
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
        return _utc_midnight(self.first_day)

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
        return _utc_midnight(self.first)

    @property
    def end(self) -> datetime:
        return _utc_midnight(self.last + timedelta(days=1))

    @property
    def slug(self) -> str:
        return f"{self.first:%Y%m%d}-{self.last:%Y%m%d}"


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class AppFigures:
    """The apps hosted at the end of the month (Pencatatan dan Pendataan), not counting removed ones."""

    total: int
    new: int  # registered during the month
    by_opd: list[Count]
    by_stack: list[Count]
    by_host: list[Count]


@dataclass(frozen=True)
class StepFigures:
    """The steps of one SOP step key finished in the month that have a Mutu Baku."""

    step_key: str
    label: str
    finished: int
    on_time: int
    average_minutes: float | None

    @property
    def percent(self) -> float | None:
        return 100 * self.on_time / self.finished if self.finished else None


@dataclass(frozen=True)
class MonthCompliance:
    month: Month
    finished: int
    on_time: int

    @property
    def percent(self) -> float | None:
        return 100 * self.on_time / self.finished if self.finished else None


@dataclass(frozen=True)
class RuleCount:
    engine: str
    rule: str
    count: int


@dataclass(frozen=True)
class ScanFigures:
    """The scans started in the month: their verdicts and the rules that made them not clean."""

    total: int
    blocked: int
    by_verdict: list[Count]
    top_rules: list[RuleCount]
    by_engine: list[Count]


@dataclass(frozen=True)
class HostCapacity:
    """A host as its agent last described it; sizes are bytes and None when the agent never reported."""

    name: str
    status: str
    apps: int
    memory_total: int | None
    memory_used: int | None
    disk_path: str | None
    disk_total: int | None
    disk_used: int | None
    cpus: int | None
    cpus_committed: float | None
    load: float | None

    @property
    def memory_percent(self) -> float | None:
        return _percent(self.memory_used, self.memory_total)

    @property
    def disk_percent(self) -> float | None:
        return _percent(self.disk_used, self.disk_total)


@dataclass(frozen=True)
class MonthlyReport:
    month: Month
    generated_at: datetime
    apps: AppFigures
    requests_total: int
    requests: list[Count]
    steps: list[StepFigures]
    trend: list[MonthCompliance]
    scans: ScanFigures
    hosts: list[HostCapacity]

    @property
    def steps_finished(self) -> int:
        return sum(step.finished for step in self.steps)

    @property
    def on_time_percent(self) -> float | None:
        finished = self.steps_finished
        return 100 * sum(step.on_time for step in self.steps) / finished if finished else None


@dataclass(frozen=True)
class ReportCharts:
    """The report's charts as SVG; None where there is nothing to draw."""

    apps_by_opd: Markup | None
    apps_by_stack: Markup | None
    apps_by_host: Markup | None
    requests: Markup | None
    steps: Markup | None
    trend: Markup | None
    scans: Markup | None
    capacity: Markup | None


def monthly_report(month: Month, now: datetime) -> MonthlyReport:
    """Gather the month's figures, each with one grouped query."""
    labels, order = _step_labels()
    requests = _requests_by_status(month)
    return MonthlyReport(
        month=month, generated_at=now, apps=_app_figures(month),
        requests_total=sum(item.count for item in requests), requests=requests,
        steps=_step_figures(month, labels, order), trend=_trend(month), scans=_scan_figures(month),
        hosts=_capacity(),
    )


def charts_for(report: MonthlyReport) -> ReportCharts:
    """Draw the report's charts in the reader's language; the page and the PDF show the same ones."""
    month = report.month.label
    return ReportCharts(
        apps_by_opd=_count_chart("grafik-aplikasi-opd", _("Aplikasi per OPD, akhir %(month)s", month=month),
                                 report.apps.by_opd, _("Jumlah aplikasi")),
        apps_by_stack=_count_chart("grafik-aplikasi-jenis",
                                   _("Aplikasi per jenis, akhir %(month)s", month=month),
                                   report.apps.by_stack, _("Jumlah aplikasi")),
        apps_by_host=_count_chart("grafik-aplikasi-server",
                                  _("Aplikasi per server, akhir %(month)s", month=month),
                                  report.apps.by_host, _("Jumlah aplikasi")),
        requests=_count_chart("grafik-permohonan",
                              _("Permohonan yang diajukan pada %(month)s menurut status", month=month),
                              report.requests, _("Jumlah permohonan")),
        steps=_steps_chart(report),
        trend=_trend_chart(report),
        scans=_count_chart("grafik-pemindaian", _("Hasil pemindaian berkas pada %(month)s", month=month),
                           report.scans.by_verdict, _("Jumlah pemindaian")),
        capacity=_capacity_chart(report.hosts),
    )


def _count_chart(ident: str, title: str, items: list[Count], what: str) -> Markup | None:
    if not items:
        return None
    shown = _fold(items)
    description = "; ".join(f"{item.label}: {angka(item.count)}" for item in shown)
    return charts.bar_chart(ident, title, f"{what}. {description}.", [item.label for item in shown],
                            [charts.Series(what, [item.count for item in shown])])


def _steps_chart(report: MonthlyReport) -> Markup | None:
    steps = [step for step in report.steps if step.finished]
    if not steps:
        return None
    description = "; ".join(f"{step.label}: {_percent_text(step.percent)}" for step in steps)
    return charts.bar_chart(
        "grafik-mutu-baku-langkah",
        _("Langkah selesai tepat waktu per langkah SOP, %(month)s", month=report.month.label),
        _("Persentase langkah yang selesai dalam Mutu Baku waktu. %(figures)s.", figures=description),
        [step.label for step in steps], [charts.Series(_("Tepat waktu"), [step.percent for step in steps])],
        unit="%", maximum=100, decimals=1)


def _trend_chart(report: MonthlyReport) -> Markup | None:
    if not any(point.finished for point in report.trend):
        return None
    description = "; ".join(f"{point.month.label}: {_percent_text(point.percent)}" for point in report.trend)
    return charts.line_chart(
        "grafik-mutu-baku-bulanan",
        ngettext("Kepatuhan Mutu Baku, %(num)d bulan sampai %(month)s",
                 "Kepatuhan Mutu Baku, %(num)d bulan sampai %(month)s", TREND_MONTHS,
                 month=report.month.label),
        _("Persentase langkah yang selesai tepat waktu per bulan. %(figures)s.", figures=description),
        [f"{point.month.short_name}\n{point.month.year}" for point in report.trend],
        [charts.Series(_("Tepat waktu"), [point.percent for point in report.trend])], unit="%", maximum=100)


def _capacity_chart(hosts: list[HostCapacity]) -> Markup | None:
    known = [host for host in hosts if host.memory_percent is not None or host.disk_percent is not None]
    if not known:
        return None
    description = "; ".join(_("%(host)s: memori %(memory)s, disk %(disk)s", host=host.name,
                              memory=_percent_text(host.memory_percent),
                              disk=_percent_text(host.disk_percent)) for host in known)
    return charts.bar_chart(
        "grafik-kapasitas", _("Pemakaian memori dan disk per server (keadaan terkini)"),
        _("Persentase memori dan disk terpakai. %(figures)s.", figures=description),
        [host.name for host in known],
        [charts.Series(_("Memori terpakai"), [host.memory_percent for host in known]),
         charts.Series(_("Disk terpakai"), [host.disk_percent for host in known])],
        unit="%", maximum=100, decimals=1)


# --- the figures ------------------------------------------------------------------------------

def _app_figures(month: Month) -> AppFigures:
    hosted = and_(App.status != AppStatus.REMOVED, App.created_at < month.end)
    new = func.sum(case((App.created_at >= month.start, 1), else_=0))
    by_stack = db.session.execute(
        select(App.stack, func.count(), new).where(hosted).group_by(App.stack)).all()
    by_opd = db.session.execute(
        select(Opd.code, Opd.name, func.count(App.id)).join(App, App.opd_id == Opd.id).where(hosted)
        .group_by(Opd.id, Opd.code, Opd.name)).all()
    by_host = db.session.execute(
        select(App.host_id, Host.name, func.count(App.id)).select_from(App)
        .outerjoin(Host, Host.id == App.host_id).where(hosted).group_by(App.host_id, Host.name)).all()
    return AppFigures(
        total=sum(count for _, count, _ in by_stack),
        new=sum(added or 0 for _, _, added in by_stack),
        by_opd=_ranked(Count(code, name, count) for code, name, count in by_opd),
        by_stack=_ranked(Count(stack, STACK_LABELS.get(stack, stack), count)
                         for stack, count, _ in by_stack),
        by_host=_ranked(Count(str(host_id or ""), name or _("Belum ditempatkan"), count)
                        for host_id, name, count in by_host),
    )


def _requests_by_status(month: Month) -> list[Count]:
    found = dict(db.session.execute(
        select(HostingRequest.status, func.count())
        .where(HostingRequest.submitted_at >= month.start, HostingRequest.submitted_at < month.end)
        .group_by(HostingRequest.status)).all())
    # In the workflow's order, so months compare at a glance.
    known = [Count(status, label, found.pop(status)) for status, label in REQUEST_STATUS_LABELS.items()
             if status in found]
    return known + [Count(status, status, count) for status, count in found.items()]


def _finished_with_due(since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(RequestStep.finished_at.is_not(None), RequestStep.due_minutes.is_not(None),
                RequestStep.finished_at >= since, RequestStep.finished_at < until)


def _step_figures(month: Month, labels: dict[str, str], order: dict[str, int]) -> list[StepFigures]:
    on_time = func.sum(case((sla.finished_on_time(), 1), else_=0))
    rows = db.session.execute(
        select(RequestStep.step_key, func.count(), on_time, func.avg(sla.finished_elapsed_minutes()))
        .where(_finished_with_due(month.start, month.end)).group_by(RequestStep.step_key)).all()
    figures = [StepFigures(key, labels.get(key, key), count, int(punctual or 0),
                           float(average) if average is not None else None)
               for key, count, punctual, average in rows]
    return sorted(figures, key=lambda step: (order.get(step.step_key, len(order)), step.step_key))


def _trend(month: Month) -> list[MonthCompliance]:
    months = [month.shifted(offset) for offset in range(1 - TREND_MONTHS, 1)]
    bucket = case(*((RequestStep.finished_at < each.end, index) for index, each in enumerate(months)))
    # Grouped over a subquery: PostgreSQL would not see two renderings of the CASE as one expression.
    steps = (select(bucket.label("bucket"), case((sla.finished_on_time(), 1), else_=0).label("on_time"))
             .where(_finished_with_due(months[0].start, months[-1].end)).subquery())
    found = {index: (count, int(punctual or 0)) for index, count, punctual in db.session.execute(
        select(steps.c.bucket, func.count(), func.sum(steps.c.on_time)).group_by(steps.c.bucket))}
    return [MonthCompliance(each, *found.get(index, (0, 0))) for index, each in enumerate(months)]


def _scan_figures(month: Month) -> ScanFigures:
    in_month = and_(ScanReport.started_at >= month.start, ScanReport.started_at < month.end)
    verdicts = dict(db.session.execute(
        select(ScanReport.verdict, func.count()).where(in_month).group_by(ScanReport.verdict)).all())
    finding, engine, rule = _findings()
    rules = db.session.execute(
        select(engine, rule, func.count()).select_from(ScanReport).join(finding, true())
        .where(in_month, ScanReport.verdict.is_not(None), ScanReport.verdict != Verdict.CLEAN)
        .group_by(engine, rule)).all()
    by_verdict = [Count(verdict, label, verdicts[verdict]) for verdict, label in VERDICT_LABELS.items()
                  if verdicts.get(verdict)]
    if verdicts.get(None):
        by_verdict.append(Count("", _("Sedang dipindai"), verdicts[None]))
    engines: dict[str, int] = defaultdict(int)
    for name, _rule, count in rules:
        engines[name or "-"] += count
    top = sorted((RuleCount(name or "-", code or "-", count) for name, code, count in rules),
                 key=lambda item: (-item.count, item.engine, item.rule))
    return ScanFigures(
        total=sum(verdicts.values()), blocked=sum(verdicts.get(verdict, 0) for verdict in BLOCKING),
        by_verdict=by_verdict, top_rules=top[:TOP_RULES],
        by_engine=_ranked(Count(name, name, count) for name, count in engines.items()),
    )


def _findings() -> tuple[Any, ColumnElement[str], ColumnElement[str]]:
    """Return the scan's findings as a table joined to each scan report, and their engine and rule."""
    value = column("value", JSON)
    if db.session.get_bind().dialect.name == "sqlite":
        table = func.json_each(ScanReport.report, "$.findings").table_valued(value)
    else:
        table = func.json_array_elements(ScanReport.report["findings"]).table_valued(value)
    return table, table.c.value["engine"].as_string(), table.c.value["rule"].as_string()


def _capacity() -> list[HostCapacity]:
    placed = and_(App.host_id == Host.id, App.status != AppStatus.REMOVED)
    rows = db.session.execute(
        select(Host, func.count(App.id)).outerjoin(App, placed).where(Host.status != HostStatus.RETIRED)
        .group_by(Host.id).order_by(Host.name)).all()
    return [_host_capacity(host, apps) for host, apps in rows]


def _host_capacity(host: Host, apps: int) -> HostCapacity:
    facts = host.facts or {}
    memory_total = _number(facts.get("memory_total_bytes"))
    memory_free = _number(facts.get("memory_available_bytes"))
    # The fullest disk is the one that limits the host.
    disks = [(path, _number(usage.get("total_bytes")), _number(usage.get("free_bytes")))
             for path, usage in (facts.get("disk") or {}).items() if isinstance(usage, dict)]
    disks = [(path, total, free) for path, total, free in disks if total and free is not None]
    fullest = max(disks, key=lambda disk: (disk[1] - disk[2]) / disk[1], default=None)
    load = facts.get("load_average") or []
    return HostCapacity(
        name=host.name, status=host.status, apps=apps, memory_total=memory_total,
        memory_used=memory_total - memory_free if memory_total and memory_free is not None else None,
        disk_path=fullest[0] if fullest else None, disk_total=fullest[1] if fullest else None,
        disk_used=fullest[1] - fullest[2] if fullest else None,
        cpus=_number(facts.get("cpus")), cpus_committed=_number(facts.get("cpus_committed")),
        load=_number(load[0]) if isinstance(load, list) and load else None,
    )


def _step_labels() -> tuple[dict[str, str], dict[str, int]]:
    """Return each step key's label and position in the newest SOP template version that has it."""
    labels: dict[str, str] = {}
    order: dict[str, int] = {}
    for definition in db.session.scalars(select(SopTemplateVersion.definition)
                                         .order_by(SopTemplateVersion.id)):
        for position, step in enumerate(sop.parse(definition).steps):
            labels[step.key], order[step.key] = step.label, position
    return labels, order


# --- the exports ------------------------------------------------------------------------------

APP_HEADER = ("nama", "alamat", "opd", "jenis", "server", "status", "alamat_ip", "dicatat",
              "pertama_di_hosting", "rilis_terakhir", "waktu_rilis_terakhir", "pemindaian_terakhir", "kontak")
REQUEST_HEADER = ("nomor", "opd", "aplikasi", "sub_domain", "jenis", "status", "diajukan", "langkah",
                  "peran", "pelaksana", "mulai", "selesai", "durasi_menit", "mutu_baku_menit", "tepat_waktu")
ON_TIME_LABELS = {
    sla.TimingState.DONE_ON_TIME: "Ya", sla.TimingState.DONE_LATE: "Tidak",
    sla.TimingState.OVERDUE: "Terlambat, belum selesai", sla.TimingState.DUE_SOON: "Belum selesai",
    sla.TimingState.ON_TIME: "Belum selesai",
}
StepActor = aliased(User, name="step_actor")


def app_rows(user: User, span: DateRange,
             chunk_rows: int = EXPORT_CHUNK_ROWS) -> Iterator[tuple[Cell, ...]]:
    """Yield one row per app registered in `span` that `user` may see, as the inventory lists it."""
    chosen = (inventory.inventory_query(user, inventory.AppFilters())
              .where(App.created_at >= span.start, App.created_at < span.end))
    query = (inventory.facts_query(chosen.with_only_columns(App.id).order_by(None))
             .add_columns(App.name, App.subdomain, App.zone, Opd.name.label("opd"), App.stack,
                          Host.name.label("host"), App.status, App.ip, App.created_at)
             .join(Opd, Opd.id == App.opd_id).outerjoin(Host, Host.id == App.host_id)
             .order_by(App.name, App.id))
    for row in _streamed(query, chunk_rows):
        release = row.latest_release
        yield (row.name, f"{row.subdomain}.{row.zone}", row.opd, STACK_LABELS.get(row.stack, row.stack),
               row.host or UNPLACED, APP_STATUS_LABELS.get(row.status, row.status), row.ip,
               _local(row.created_at), _local(row.first_hosted_at),
               release.number if release else None,
               _local(release.deployed_at or release.created_at) if release else None,
               VERDICT_LABELS.get(row.last_verdict, row.last_verdict) if row.last_verdict else None,
               inventory.contact_of(row.contact, row.filer, row.filer_email))


def request_rows(span: DateRange, now: datetime,
                 chunk_rows: int = EXPORT_CHUNK_ROWS) -> Iterator[tuple[Cell, ...]]:
    """Yield one row per step of each request submitted in `span`, timed against its Mutu Baku."""
    labels = _labels_by_version()
    roles = sla.role_labels()
    query = (select(HostingRequest.number, HostingRequest.template_version_id, Opd.name.label("opd"),
                    HostingRequest.app_name, HostingRequest.subdomain, HostingRequest.stack,
                    HostingRequest.status, HostingRequest.submitted_at, RequestStep,
                    StepActor.full_name.label("actor_name"), StepActor.username.label("actor_username"))
             .join(Opd, Opd.id == HostingRequest.opd_id)
             .outerjoin(RequestStep, RequestStep.request_id == HostingRequest.id)
             .outerjoin(StepActor, StepActor.id == RequestStep.actor_id)
             .where(HostingRequest.submitted_at >= span.start, HostingRequest.submitted_at < span.end)
             .order_by(HostingRequest.submitted_at, HostingRequest.id, RequestStep.id))
    for row in _streamed(query, chunk_rows):
        step: RequestStep | None = row.RequestStep
        common = (row.number, row.opd, row.app_name, row.subdomain, STACK_LABELS.get(row.stack, row.stack),
                  REQUEST_STATUS_LABELS.get(row.status, row.status), _local(row.submitted_at))
        if step is None:
            yield (*common, None, None, None, None, None, None, None, None)
            continue
        timing = sla.step_timing(step, now)
        yield (*common, labels.get((row.template_version_id, step.step_key), step.step_key),
               roles.get(step.role, step.role), row.actor_name or row.actor_username,
               _local(step.started_at), _local(step.finished_at),
               round(timing.elapsed_minutes, 1) if step.finished_at else None, step.due_minutes,
               ON_TIME_LABELS[timing.state] if timing.due_minutes is not None else "Tanpa Mutu Baku")


def _streamed(query: Select[Any], chunk_rows: int) -> Iterator[Row[Any]]:
    """Yield the query's rows, `chunk_rows` at a time; the cursor closes even if the reader stops early."""
    with db.session.execute(query.execution_options(yield_per=chunk_rows)) as result:
        yield from result


def _labels_by_version() -> dict[tuple[int, str], str]:
    return {(version_id, step.key): step.label
            for version_id, definition in db.session.execute(
                select(SopTemplateVersion.id, SopTemplateVersion.definition))
            for step in sop.parse(definition).steps}


# --- helpers ----------------------------------------------------------------------------------

def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), pemda_zone()).astimezone(UTC)


def _local(moment: datetime | None) -> datetime | None:
    """Return a stored UTC time as a naive local time, the way a spreadsheet shows it."""
    return None if moment is None else local_time(moment).replace(tzinfo=None)


def _ranked(items: Any) -> list[Count]:
    return sorted(items, key=lambda item: (-item.count, item.label))


def _fold(items: list[Count]) -> list[Count]:
    if len(items) <= CHART_BARS:
        return items
    rest = items[CHART_BARS - 1:]
    return [*items[:CHART_BARS - 1],
            Count("", _("Lainnya (%(count)d)", count=len(rest)), sum(item.count for item in rest))]


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _percent(part: float | None, whole: float | None) -> float | None:
    return 100 * part / whole if part is not None and whole else None


def _percent_text(value: float | None) -> str:
    return f"{angka(value, 1)}%" if value is not None else _("tidak ada data")
