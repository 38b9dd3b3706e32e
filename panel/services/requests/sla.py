"""Mutu Baku timing: how long each step took against its time limit, live and in summary.

Mutu Baku counts working minutes per the working calendar (`working_time`): a step's deadline is fixed
in working time when it opens, so nights, weekends, holidays and cuti bersama do not count.

Timestamps are stored in UTC; SQLite hands them back naive, so every comparison goes through `_utc`.
"""
from __future__ import annotations

import enum
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, func, literal, or_, select

from panel.extensions import db
from panel.models import HostingRequest, RequestStep, Role
from panel.models.accounts import DEFAULT_ROLE_LABELS
from panel.services.requests import workflow, working_time

DUE_SOON_FRACTION = 0.8  # the last 20% of a step's Mutu Baku counts as "due soon"


class TimingState(enum.StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    DONE_ON_TIME = "done_on_time"
    DONE_LATE = "done_late"


@dataclass(frozen=True)
class StepTiming:
    elapsed_minutes: float
    due_minutes: int | None  # None: the step has no time limit, so it is never late
    remaining_minutes: float | None  # negative once the time limit has passed
    state: TimingState

    @property
    def late(self) -> bool:
        return self.state in (TimingState.OVERDUE, TimingState.DONE_LATE)


@dataclass(frozen=True)
class TimelineRow:
    step_id: int
    step_key: str
    label: str
    role: str
    role_label: str
    actor: str | None
    started_at: datetime
    finished_at: datetime | None
    decision: str | None
    note: str | None
    timing: StepTiming


@dataclass(frozen=True)
class StepCompliance:
    step_key: str
    count: int
    on_time: int
    on_time_percent: float
    median_elapsed_minutes: float


def step_timing(step: RequestStep, now: datetime,
                calendar: working_time.WorkingCalendar | None = None) -> StepTiming:
    """Measure `step` against its Mutu Baku as of `now`, in working time per the working calendar."""
    calendar = calendar or working_time.load()
    end = _utc(step.finished_at) if step.finished_at else _utc(now)
    elapsed = calendar.working_minutes(_utc(step.started_at), end)
    done, due = step.finished_at is not None, step.due_minutes
    if due is None:
        return StepTiming(elapsed, None, None, TimingState.DONE_ON_TIME if done else TimingState.ON_TIME)
    deadline = _utc(step.due_at) if step.due_at else calendar.add_working_minutes(_utc(step.started_at), due)
    late = end > deadline
    if done:
        state = TimingState.DONE_LATE if late else TimingState.DONE_ON_TIME
    elif late:
        state = TimingState.OVERDUE
    elif elapsed >= due * DUE_SOON_FRACTION:
        state = TimingState.DUE_SOON
    else:
        state = TimingState.ON_TIME
    return StepTiming(elapsed, due, due - elapsed, state)


def step_label(request: HostingRequest, step_key: str) -> str:
    """Return the step's label in the SOP template version the request is pinned to."""
    try:
        return workflow.template_of(request).step(step_key).label
    except KeyError:
        return step_key


def timeline(request: HostingRequest, now: datetime) -> list[TimelineRow]:
    """List the request's steps in order with who acted, when, and how they stand against Mutu Baku."""
    template = workflow.template_of(request)
    labels = {step.key: step.label for step in template.steps}
    role_names = role_labels()
    calendar = working_time.load()
    return [
        TimelineRow(
            step_id=step.id, step_key=step.step_key, label=labels.get(step.step_key, step.step_key),
            role=step.role, role_label=role_names.get(step.role, step.role),
            actor=(step.actor.full_name or step.actor.username) if step.actor else None,
            started_at=_utc(step.started_at),
            finished_at=_utc(step.finished_at) if step.finished_at else None,
            decision=step.decision, note=step.note, timing=step_timing(step, now, calendar),
        )
        for step in request.steps
    ]


def role_labels() -> dict[str, str]:
    """Return each role's label as this Pemda names it, by role key."""
    labels = {key.value: label for key, label in DEFAULT_ROLE_LABELS.items()}
    labels.update((key, label) for key, label in db.session.execute(select(Role.key, Role.label)))
    return labels


def overdue_steps(now: datetime, *, unnotified_only: bool = False) -> list[RequestStep]:
    """Return the open steps whose Mutu Baku ran out before `now`, oldest first."""
    query = select(RequestStep).where(is_overdue(now))
    if unnotified_only:
        query = query.where(RequestStep.overdue_notified_at.is_(None))
    return list(db.session.scalars(query.order_by(RequestStep.started_at, RequestStep.id)))


def is_overdue(now: datetime) -> ColumnElement[bool]:
    """Return the filter selecting the open steps whose Mutu Baku ran out before `now`."""
    # The working deadline is fixed on the step; a step without one (older rows) counts every minute.
    return and_(
        RequestStep.finished_at.is_(None),
        RequestStep.due_minutes.is_not(None),
        or_(and_(RequestStep.due_at.is_not(None), RequestStep.due_at < _utc(now)),
            and_(RequestStep.due_at.is_(None), _deadline_before(_utc(now)))),
    )


def compliance(
    since: datetime | None = None, until: datetime | None = None, opd_id: int | None = None
) -> list[StepCompliance]:
    """Summarise finished steps with a Mutu Baku per step key: count, share on time, median minutes."""
    query = select(RequestStep.step_key, RequestStep.started_at, RequestStep.finished_at,
                   RequestStep.due_minutes, RequestStep.due_at).where(
        RequestStep.finished_at.is_not(None), RequestStep.due_minutes.is_not(None)
    )
    if since is not None:
        query = query.where(RequestStep.finished_at >= _utc(since))
    if until is not None:
        query = query.where(RequestStep.finished_at < _utc(until))
    if opd_id is not None:
        query = query.join(HostingRequest).where(HostingRequest.opd_id == opd_id)
    elapsed: dict[str, list[float]] = defaultdict(list)
    on_time: dict[str, int] = defaultdict(int)
    calendar = working_time.load()
    for key, started_at, finished_at, due, due_at in db.session.execute(query):
        assert finished_at is not None and due is not None  # the WHERE above excludes NULLs
        elapsed[key].append(calendar.working_minutes(_utc(started_at), _utc(finished_at)))
        deadline = _utc(due_at) if due_at else calendar.add_working_minutes(_utc(started_at), due)
        on_time[key] += _utc(finished_at) <= deadline
    return [
        StepCompliance(key, len(values), on_time[key], 100 * on_time[key] / len(values),
                       statistics.median(values))
        for key, values in sorted(elapsed.items())
    ]


def finished_elapsed_minutes() -> ColumnElement[float | Decimal]:
    """Return the SQL expression for the minutes a finished step took, for sums and averages."""
    if db.session.get_bind().dialect.name == "sqlite":
        return (func.julianday(RequestStep.finished_at) - func.julianday(RequestStep.started_at)) * 1440.0
    return func.extract("epoch", RequestStep.finished_at - RequestStep.started_at) / 60.0


def finished_on_time() -> ColumnElement[bool]:
    """Return the SQL test that a finished step took no longer than its Mutu Baku, as `step_timing` judges."""
    return or_(and_(RequestStep.due_at.is_not(None), RequestStep.finished_at <= RequestStep.due_at),
               and_(RequestStep.due_at.is_(None), _finished_within_wall_clock()))


def _finished_within_wall_clock() -> ColumnElement[bool]:
    # Steps opened before the working calendar existed have no working deadline: every minute counts.
    if db.session.get_bind().dialect.name == "sqlite":
        # julianday is a float: a millisecond of slack keeps a step finished exactly at its limit on time.
        return finished_elapsed_minutes() <= RequestStep.due_minutes + 1 / 60000
    return RequestStep.finished_at <= RequestStep.started_at + RequestStep.due_minutes * literal(
        timedelta(minutes=1))


def _deadline_before(now: datetime) -> ColumnElement[bool]:
    # started_at + due_minutes < now, in the dialect at hand: SQLite has no interval type.
    if db.session.get_bind().dialect.name == "sqlite":
        deadline = func.julianday(RequestStep.started_at) + RequestStep.due_minutes / 1440.0
        return deadline < func.julianday(now.replace(tzinfo=None))
    return RequestStep.started_at + RequestStep.due_minutes * literal(timedelta(minutes=1)) < now


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
