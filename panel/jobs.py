"""Background jobs: huey tasks with a persisted `Job` row that the UI polls for progress.

The queue backend is bound in `init_app` (SQLite by default, Redis for several machines), so
importing this module opens nothing.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from huey import Huey
from huey.storage import BlackHoleStorage, RedisStorage, SqliteStorage
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, SessionTransaction

from panel.extensions import db
from panel.i18n import N_
from panel.models import Job, JobStatus
from panel.models.base import utcnow
from panel.services.refused import Refused

logger = logging.getLogger(__name__)



class JobAlreadyRunning(Refused):
    """The same kind of work is already queued or running for its target (a double submit)."""


_PENDING = "wadah.jobs.pending"  # key in Session.info: tasks to enqueue once the transaction commits

huey = Huey("wadah", storage_class=BlackHoleStorage)


def init_app(app: Flask) -> None:
    backend = app.config["JOBS_BACKEND"]
    if backend.startswith("sqlite:///"):
        huey.storage = SqliteStorage(name="wadah", filename=backend.removeprefix("sqlite:///"))
    elif backend.startswith("redis://"):
        huey.storage = RedisStorage(name="wadah", url=backend)
    else:
        raise ValueError(f"JOBS_BACKEND tidak dikenal: {backend}")
    huey.immediate = bool(app.config["JOBS_IMMEDIATE"])
    huey.flask_app = app  # type: ignore[attr-defined]


def _in_app_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with huey.flask_app.app_context():  # type: ignore[attr-defined]
            return fn(*args, **kwargs)

    return wrapper


def task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a huey task that runs inside the panel's app context."""
    return lambda fn: huey.task(**options)(_in_app_context(fn))


def periodic_task(
    validate_datetime: Callable[..., bool], **options: Any
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a huey periodic task (e.g. every minute) that runs inside the panel's app context."""
    return lambda fn: huey.periodic_task(validate_datetime, **options)(_in_app_context(fn))


def launch(kind: str, target: Any, user: Any, run: Any, *args: Any) -> Job:
    """Record a queued Job for `target`, commit it, then enqueue `run(job_id, *args)`.

    The row is committed first so the UI can show it at once and the worker always finds it.
    """
    job = Job(kind=kind, target_type=type(target).__name__, target_id=str(_identity(target)),
              created_by_id=getattr(user, "id", None), message=N_("Menunggu giliran"))
    db.session.add(job)
    db.session.commit()
    run(job.id, *args)
    return job


def latest(kind: str, target: Any) -> Job | None:
    """Return the newest job of `kind` launched for `target`, or None."""
    return db.session.scalar(
        select(Job).where(Job.kind == kind, Job.target_type == type(target).__name__,
                          Job.target_id == str(_identity(target)))
        .order_by(Job.id.desc()).limit(1))


def unfinished(job: Job | None) -> bool:
    """Return whether `job` is still waiting or running (None: there is no job)."""
    return job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING)


def running_of(kinds: tuple[str, ...], target: Any) -> Job | None:
    """Return a job of one of `kinds` for `target` that is still waiting or running, or None."""
    return db.session.scalar(
        select(Job).where(Job.kind.in_(kinds), Job.target_type == type(target).__name__,
                          Job.target_id == str(_identity(target)),
                          Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .order_by(Job.id.desc()).limit(1))


def report(job: Job, percent: int, message: str) -> None:
    """Record a job's progress and commit, so pollers see it while the job runs."""
    job.status, job.progress, job.message = JobStatus.RUNNING, max(0, min(100, percent)), message[:255]
    db.session.commit()


def report_partial(job: Job, message: str, result: dict[str, Any]) -> bool:
    """Show a running job's latest partial result, unless it was stopped meanwhile; return whether it runs.

    A conditional update, so a stop recorded a moment earlier is never undone.
    """
    updated = db.session.execute(
        update(Job).where(Job.id == job.id, Job.status == JobStatus.RUNNING)
        .values(message=message[:255], result=result))
    db.session.commit()
    return updated.rowcount == 1  # type: ignore[attr-defined]


def stop(job: Job, message: str) -> bool:
    """Finish an unfinished job because a person asked (e.g. stop following a log); return whether it was."""
    updated = db.session.execute(
        update(Job).where(Job.id == job.id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .values(status=JobStatus.SUCCEEDED, message=message[:255], finished_at=utcnow()))
    return updated.rowcount == 1  # type: ignore[attr-defined]


def started(job: Job) -> None:
    job.status, job.started_at, job.message = JobStatus.RUNNING, utcnow(), N_("Berjalan")


def succeeded(job: Job, message: str, result: dict[str, Any] | None = None) -> None:
    job.status, job.progress, job.message = JobStatus.SUCCEEDED, 100, message[:255]
    job.result, job.finished_at = result or {}, utcnow()


def failed(job: Job, error: str) -> None:
    # The error is shown to the user: callers pass a domain message, never a traceback or secret.
    job.status, job.message, job.error, job.finished_at = JobStatus.FAILED, N_("Gagal"), error, utcnow()


def _identity(target: Any) -> Any:
    return getattr(target, "id", None) or getattr(target, "sha256", None)


def after_commit(job: Callable[..., Any], *args: Any) -> None:
    """Enqueue `job(*args)` once the current transaction commits, and never if it does not."""
    # Enqueued earlier, the worker (or immediate mode, in its own session) would not see the rows yet.
    session = db.session()
    pending = session.info.setdefault(_PENDING, [])
    if (job, args) not in pending:
        pending.append((job, args))
    if not event.contains(session, "after_commit", _enqueue_pending):
        event.listen(session, "after_commit", _enqueue_pending)
        event.listen(session, "after_transaction_end", _drop_pending)


def _enqueue_pending(session: Session) -> None:
    for job, args in session.info.pop(_PENDING, []):
        try:
            job(*args)
        except Exception:  # the change is committed; a queue fault must not look like its failure
            logger.exception("Tugas %s tidak dapat dijadwalkan", getattr(job, "name", job))


def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outer transaction ended without a commit: forget its tasks
        session.info.pop(_PENDING, None)
