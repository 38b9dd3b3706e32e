"""A month's figures for officials (Laporan): apps, requests, Mutu Baku, scans and server capacity.

Every figure is one SQL GROUP BY, so a report costs the same few statements however much data there is.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, and_, case, column, func, or_, select, true

from panel.extensions import db
from panel.formatting import REQUEST_STATUS_LABELS, STACK_LABELS, VERDICT_LABELS
from panel.i18n import gettext as _
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
    Verdict,
)
from panel.services.reports.periods import Month
from panel.services.requests import sla, sop, working_time

TREND_MONTHS = 12
TOP_RULES = 10
# The verdicts that stop a release outright; REVIEW waits for a technician's written reason.
BLOCKING = (Verdict.INFECTED, Verdict.REJECTED, Verdict.ERROR)


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class AppFigures:
    """The apps hosted at the end of the month (Pencatatan dan Pendataan), external ones included, not
    counting those removed by then."""

    total: int
    new: int  # registered during the month
    by_opd: list[Count]
    by_stack: list[Count]
    by_host: list[Count]
    removed: list[str] = field(default_factory=list)  # the apps removed during the month, by name


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
    status: HostStatus
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


def _app_figures(month: Month) -> AppFigures:
    # Removed after the month ended, an app still counts for it: a past month's report never changes.
    hosted = and_(App.created_at < month.end,
                  or_(App.status != AppStatus.REMOVED, App.removed_at >= month.end))
    new = func.sum(case((App.created_at >= month.start, 1), else_=0))
    removed = db.session.scalars(
        select(App.name).where(App.status == AppStatus.REMOVED, App.removed_at >= month.start,
                               App.removed_at < month.end).order_by(App.name)).all()
    by_stack = db.session.execute(
        select(App.stack, func.count(), new).where(hosted).group_by(App.stack)).all()
    by_opd = db.session.execute(
        select(Opd.code, Opd.name, func.count(App.id)).join(App, App.opd_id == Opd.id).where(hosted)
        .group_by(Opd.id, Opd.code, Opd.name)).all()
    external = App.status == AppStatus.EXTERNAL
    by_host = db.session.execute(
        select(App.host_id, Host.name, external, func.count(App.id)).select_from(App)
        .outerjoin(Host, Host.id == App.host_id).where(hosted)
        .group_by(App.host_id, Host.name, external)).all()
    return AppFigures(
        total=sum(count for _, count, _ in by_stack),
        new=sum(added or 0 for _, _, added in by_stack),
        by_opd=_ranked(Count(code, name, count) for code, name, count in by_opd),
        by_stack=_ranked(Count(stack, STACK_LABELS.get(stack, stack), count)
                         for stack, count, _ in by_stack),
        by_host=_ranked(Count(str(host_id or ("external" if outside else "")),
                              name or (_("Di luar Wadah (eksternal)") if outside else _("Belum ditempatkan")),
                              count)
                        for host_id, name, outside, count in by_host),
        removed=list(removed),
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


def _working_averages(month: Month) -> dict[str, float]:
    # Mutu Baku counts working minutes (sla), so the average a step took is in working minutes too.
    calendar = working_time.load()
    spent: dict[str, list[float]] = {}
    for key, started_at, finished_at in db.session.execute(
            select(RequestStep.step_key, RequestStep.started_at, RequestStep.finished_at)
            .where(_finished_with_due(month.start, month.end))):
        assert finished_at is not None  # the WHERE above keeps finished steps only
        spent.setdefault(key, []).append(calendar.working_minutes(started_at, finished_at))
    return {key: sum(values) / len(values) for key, values in spent.items()}


def _step_figures(month: Month, labels: dict[str, str], order: dict[str, int]) -> list[StepFigures]:
    on_time = func.sum(case((sla.finished_on_time(), 1), else_=0))
    rows = db.session.execute(
        select(RequestStep.step_key, func.count(), on_time)
        .where(_finished_with_due(month.start, month.end)).group_by(RequestStep.step_key)).all()
    averages = _working_averages(month)
    figures = [StepFigures(key, labels.get(key, key), count, int(punctual or 0), averages.get(key))
               for key, count, punctual in rows]
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


def _ranked(items: Any) -> list[Count]:
    return sorted(items, key=lambda item: (-item.count, item.label))


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _percent(part: float | None, whole: float | None) -> float | None:
    return 100 * part / whole if part is not None and whole else None
