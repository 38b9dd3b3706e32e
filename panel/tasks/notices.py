"""Notices by email: a step's role when the step opens or runs past its Mutu Baku, and an app's
administrators when its release goes live or fails.
"""
from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from flask import Flask, current_app
from huey import crontab
from sqlalchemy import update

from panel import audit, events, jobs
from panel.extensions import db
from panel.jobs import periodic_task, task
from panel.models import (
    App,
    AppStatus,
    HostingRequest,
    Release,
    ReleaseStatus,
    RequestStatus,
    RequestStep,
    RoleKey,
)
from panel.models.base import utcnow
from panel.services import notify
from panel.services.requests import sla

ENDED = (RequestStatus.REJECTED, RequestStatus.WITHDRAWN, RequestStatus.CLOSED)


@task()
def notify_step_opened(step_id: int) -> str:
    """Email the users of an opened step's role that the step awaits them."""
    step = db.session.get(RequestStep, step_id)
    if step is None or step.finished_at is not None:
        return "skipped"  # acted on before the notice went out
    request = db.session.get_one(HostingRequest, step.request_id)
    label = sla.step_label(request, step.step_key)
    compose = partial(notify.step_assigned, request, step, label)
    delivery = notify.send_to_each_in_their_language(_smtp(), compose,
                                                     notify.recipients(step.role, request.opd_id))
    if delivery is notify.Delivery.FAILED:
        audit.record("notify.failed", request, notice="step_assigned", step=step.step_key)
        db.session.commit()
    return delivery.value


@periodic_task(crontab(minute="*"))
def check_overdue() -> int:
    """Email each overdue step's role once, marking and auditing the step; return how many were handled."""
    now, smtp, handled = utcnow(), _smtp(), 0
    for step_id in [step.id for step in sla.overdue_steps(now, unnotified_only=True)]:
        # Claimed before sending: a failed delivery is logged and audited, not retried every minute;
        # dashboards flag the step as overdue either way.
        if not _claim_overdue(step_id, now):
            continue  # another run got there first
        step = db.session.get_one(RequestStep, step_id)
        request = db.session.get_one(HostingRequest, step.request_id)
        label = sla.step_label(request, step.step_key)
        timing = sla.step_timing(step, now)
        users = notify.recipients(step.role, request.opd_id)
        delivery = notify.send_to_each_in_their_language(
            smtp, partial(notify.step_overdue, request, label, timing), users)
        audit.record("request.step_overdue", request, step=step.step_key, role=step.role,
                     delivery=delivery.value, recipients=len(users))
        db.session.commit()
        handled += 1
    return handled


@task()
def notify_request_ended(request_id: int) -> str:
    """Email the OPD that its request was rejected, withdrawn or closed."""
    request = db.session.get(HostingRequest, request_id)
    if request is None or request.status not in ENDED:
        return "skipped"
    last = next((step for step in reversed(request.steps) if step.finished_at is not None), None)
    reason = (last.note or "") if last is not None else ""
    delivery = notify.send_to_each_in_their_language(
        _smtp(), partial(notify.request_ended, request, reason),
        notify.recipients(RoleKey.OPD_ADMIN, request.opd_id))
    if delivery is notify.Delivery.FAILED:
        audit.record("notify.failed", request, notice="request_ended", status=request.status)
        db.session.commit()
    return delivery.value


@task()
def notify_release(release_id: int) -> str:
    """Email an app's administrators that its release went live or failed."""
    release = db.session.get(Release, release_id)
    if release is None or release.status not in (ReleaseStatus.LIVE, ReleaseStatus.FAILED):
        return "skipped"
    app = release.app
    finished = release.status == ReleaseStatus.LIVE
    compose = notify.deploy_finished if finished else notify.deploy_failed
    delivery = notify.send_to_each_in_their_language(_smtp(), partial(compose, app, release),
                                                     notify.app_recipients(app))
    if delivery is notify.Delivery.FAILED:
        audit.record("notify.failed", release, notice="deploy_finished" if finished else "deploy_failed")
        db.session.commit()
    return delivery.value


@task()
def notify_app_removed(app_id: int) -> str:
    """Email an app's agency administrators that it was decommissioned."""
    app = db.session.get(App, app_id)
    if app is None or app.status != AppStatus.REMOVED:
        return "skipped"
    delivery = notify.send_to_each_in_their_language(_smtp(), partial(notify.app_removed, app),
                                                     notify.recipients(RoleKey.OPD_ADMIN, app.opd_id))
    audit.record("app.removal_notified", app, delivery=delivery.value)
    db.session.commit()
    return delivery.value


def init_app(app: Flask) -> None:
    """Mail each step's role when the step opens (after the transaction that opened it commits)."""
    events.step_opened.connect(announce_step)
    events.request_ended.connect(announce_end)


def announce_step(step: RequestStep, **_: Any) -> None:
    """Queue the step-assigned email for when the transaction that opened `step` commits."""
    jobs.after_commit(notify_step_opened, step.id)


def announce_end(request: HostingRequest, **_: Any) -> None:
    """Queue the OPD's email for when the transaction that ended `request` commits."""
    jobs.after_commit(notify_request_ended, request.id)


def _claim_overdue(step_id: int, now: datetime) -> bool:
    # A conditional update, committed before sending, so two runs never mail the same step.
    claimed = db.session.execute(
        update(RequestStep)
        .where(RequestStep.id == step_id, RequestStep.overdue_notified_at.is_(None))
        .values(overdue_notified_at=now)
    )
    db.session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined]


def _smtp() -> notify.SmtpSettings:
    return notify.SmtpSettings.from_config(current_app.config)
