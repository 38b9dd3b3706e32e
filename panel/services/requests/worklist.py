"""The open steps a user keeps an eye on: those waiting for one of their roles, and the overdue ones.

Both lists are read in a fixed number of statements, whatever the number of requests: one joined
select per list and one for the step labels of the SOP versions involved.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, select

from panel.extensions import db
from panel.models import HostingRequest, Opd, RequestStep, RoleKey, SopTemplateVersion, User
from panel.permissions import DATA_CENTER_ROLES, visible_requests
from panel.services.requests import sla, sop, working_time

LIST_LIMIT = 50  # rows per list; the oldest come first, so the most urgent are never cut


@dataclass(frozen=True)
class OpenStep:
    step_id: int
    request_id: int
    request_number: str | None
    app_name: str
    opd_name: str
    label: str
    role: str
    timing: sla.StepTiming

    @property
    def late(self) -> bool:
        return self.timing.state == sla.TimingState.OVERDUE


@dataclass(frozen=True)
class Worklist:
    waiting: list[OpenStep]  # open steps whose role the user holds
    overdue: list[OpenStep]  # open steps past their Mutu Baku, whoever holds them
    more_waiting: bool  # True when `waiting` was cut at the limit
    more_overdue: bool
    as_of: datetime


def follows_requests(user: User) -> bool:
    """Tell whether `user` follows hosting requests at all (an app's Web Panel account does not)."""
    return user.app_account is None and user.has_role(RoleKey.OPD_ADMIN, *DATA_CENTER_ROLES)


def worklist_for(user: User, now: datetime, limit: int = LIST_LIMIT) -> Worklist | None:
    """Return the open steps waiting for `user` and the overdue ones they may see (None: no requests)."""
    if not follows_requests(user):
        return None
    waiting = _open_steps(RequestStep.finished_at.is_(None), RequestStep.role.in_(sorted(user.role_keys)),
                          visible_requests(user), limit=limit)
    overdue = _open_steps(sla.is_overdue(now), visible_requests(user), limit=limit)
    labels = _step_labels({row.template_version_id for row in [*waiting, *overdue]})
    return Worklist(waiting=_rows(waiting[:limit], labels, now), overdue=_rows(overdue[:limit], labels, now),
                    more_waiting=len(waiting) > limit, more_overdue=len(overdue) > limit, as_of=now)


def _open_steps(*conditions: ColumnElement[bool], limit: int) -> list[Row[*tuple[Any, ...]]]:
    query = (
        select(RequestStep, HostingRequest.number, HostingRequest.app_name,
               HostingRequest.template_version_id, Opd.name.label("opd_name"))
        .join(HostingRequest, HostingRequest.id == RequestStep.request_id)
        .join(Opd, Opd.id == HostingRequest.opd_id)
        .where(*conditions)
        .order_by(RequestStep.started_at, RequestStep.id)
        .limit(limit + 1)
    )
    return list(db.session.execute(query))


def _rows(found: list[Row[*tuple[Any, ...]]], labels: dict[tuple[int, str], str],
          now: datetime) -> list[OpenStep]:
    rows, calendar = [], working_time.load()
    for step, number, app_name, version_id, opd_name in found:
        rows.append(OpenStep(
            step_id=step.id, request_id=step.request_id, request_number=number, app_name=app_name,
            opd_name=opd_name, label=labels.get((version_id, step.step_key), step.step_key),
            role=step.role, timing=sla.step_timing(step, now, calendar)))
    return rows


def _step_labels(version_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    # Labels come from the SOP version each request is pinned to, as the request page shows them.
    ids = sorted(version_ids)
    if not ids:
        return {}
    versions = db.session.execute(
        select(SopTemplateVersion.id, SopTemplateVersion.definition).where(SopTemplateVersion.id.in_(ids))
    )
    return {(version_id, step.key): step.label
            for version_id, definition in versions for step in sop.parse(definition).steps}
