"""Background jobs: huey tasks with a persisted `Job` row that the UI polls for progress.

The queue backend is bound in `init_app` (SQLite by default, Redis for several machines), so
importing this module opens nothing.

No job stays unfinished for good: each kind has a deadline (`DEADLINES`), each worker process beats
a heartbeat (`Heartbeat`), and `reap` fails the jobs of a dead worker or past their deadline, then
runs the recovery their domain registered (`recovery`) so the action can be started again. Workers
reap at start and with every beat, and the panel reaps whenever it asks whether a job is unfinished.
"""
from __future__ import annotations

import functools
import inspect
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from huey import Huey
from huey.storage import BlackHoleStorage, RedisStorage, SqliteStorage
from sqlalchemy import ColumnElement, and_, delete, event, or_, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from panel.extensions import db
from panel.i18n import N_, speaking
from panel.i18n import gettext as _
from panel.models import Job, JobStatus, Worker
from panel.models.base import utcnow
from panel.services.refused import Refused

logger = logging.getLogger(__name__)

# How long a job of each kind may take from its start (and may wait for a worker from its launch);
# past it the job is failed. Generous: a slow scan or a Dockerfile build must never be cut short.
DEADLINES: dict[str, timedelta] = {
    "scan": timedelta(minutes=30),
    "allocate": timedelta(minutes=5),
    "deploy": timedelta(minutes=45),  # a Dockerfile app is built and its build scanned
    "app_upload": timedelta(minutes=60),  # scan, then deploy
    "app_control": timedelta(minutes=10),
    "app_logs": timedelta(minutes=10),  # follows a log for 5 minutes
    "app_rollback": timedelta(minutes=15),
    "app_env": timedelta(minutes=10),
    "app_storage": timedelta(minutes=15),
    "app_database": timedelta(minutes=5),
    "app_db_password": timedelta(minutes=5),
    "app_domain": timedelta(minutes=5),
    "refresh_host": timedelta(minutes=5),
    "probe_zone": timedelta(minutes=5),
}
DEFAULT_DEADLINE = timedelta(minutes=30)
BEAT_EVERY_S = 5  # a worker's heartbeat
DEAD_AFTER = timedelta(seconds=4 * BEAT_EVERY_S)  # missed beats after which a worker is dead
FORGET_WORKERS_AFTER = timedelta(days=7)  # a dead worker's row is kept this long, for the health page
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)

Recovery = Callable[[Job, str], None]
_RECOVERIES: dict[str, list[Recovery]] = {}
_worker_id: int | None = None  # the Worker row of this process, once it consumes jobs



class JobAlreadyRunning(Refused):
    """The same kind of work is already queued or running for its target (a double submit)."""


_PENDING = "wadah.jobs.pending"  # key in Session.info: tasks to enqueue once the transaction commits

huey = Huey("wadah", storage_class=BlackHoleStorage)


def init_app(app: Flask) -> None:
    backend = app.config["JOBS_BACKEND"]
    storage: Callable[[], Any]
    if backend.startswith("sqlite:///"):
        storage = functools.partial(SqliteStorage, name="wadah",
                                    filename=backend.removeprefix("sqlite:///"))
    elif backend.startswith("redis://"):
        storage = functools.partial(RedisStorage, name="wadah", url=backend)
    else:
        raise ValueError(f"JOBS_BACKEND tidak dikenal: {backend}")
    # `immediate` first: changing it makes huey build a storage of its own, which would replace the
    # backend (a second app in one process, as in the tests, had its jobs dropped so). Immediate-mode
    # jobs stay in huey's memory.
    huey.immediate = bool(app.config["JOBS_IMMEDIATE"])
    if not huey.immediate:
        huey.storage = storage()
    huey.flask_app = app  # type: ignore[attr-defined]


def _in_app_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with huey.flask_app.app_context():  # type: ignore[attr-defined]
            return fn(*args, **kwargs)

    return wrapper


def task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a huey task that runs inside the panel's app context; one taking `job_id` ends its job."""
    return lambda fn: huey.task(**options)(_in_app_context(_ending_its_job(fn)))


def _ending_its_job(fn: Callable[..., Any]) -> Callable[..., Any]:
    if next(iter(inspect.signature(fn).parameters), None) != "job_id":
        return fn

    @functools.wraps(fn)
    def wrapper(job_id: int, *args: Any, **kwargs: Any) -> Any:
        job = db.session.get(Job, job_id)
        if job is None or job.status not in UNFINISHED:
            return job.status if job else None  # failed by the reaper, or stopped, before it ran
        try:
            return fn(job_id, *args, **kwargs)
        except Exception as error:
            db.session.rollback()
            # The traceback goes to the log only: it may quote paths, addresses or values.
            logger.exception("Task %s (job #%s) failed unexpectedly", fn.__name__, job_id)
            message = _("Kesalahan tak terduga (%(error)s) saat menjalankan tugas ini; rinciannya ada "
                        "di log pekerja (pekerjaan #%(job)s). Jalankan lagi; bila berulang, laporkan "
                        "ke teknisi Data Center.", error=type(error).__name__, job=job_id)
            return _end(job_id, message, Job.status.in_(UNFINISHED))

    return wrapper


def recovery(*kinds: str) -> Callable[[Recovery], Recovery]:
    """Register `hook(job, reason)` to put a failed job's target back where its action can be retried.

    The hook runs in the transaction that fails the job, for a job that died half-way (its worker
    stopped, its deadline passed, or an unexpected error), never for one its task ended itself.
    """
    def register(hook: Recovery) -> Recovery:
        for kind in kinds:
            _RECOVERIES.setdefault(kind, []).append(hook)
        return hook

    return register


def deadline_of(kind: str) -> timedelta:
    return DEADLINES.get(kind, DEFAULT_DEADLINE)


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
              created_by_id=getattr(user, "id", None), message=N_("Menunggu giliran"),
              deadline_at=utcnow() + deadline_of(kind))
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
    """Return whether `job` is still waiting or running (None: there is no job), reaping first."""
    if job is None or job.status not in UNFINISHED:
        return False
    if job.id in reap_aside():
        db.session.refresh(job)
    return job.status in UNFINISHED


def running_of(kinds: tuple[str, ...], target: Any) -> Job | None:
    """Return a job of one of `kinds` for `target` that is still waiting or running, or None."""
    reap_aside()
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
    job.worker_id, job.deadline_at = _worker_id, job.started_at + deadline_of(job.kind)


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


# --- the reaper ---------------------------------------------------------------------------------


def _dead_workers(now: datetime) -> Any:
    return select(Worker.id).where(Worker.last_beat_at < now - DEAD_AFTER)


def _reapable(now: datetime) -> ColumnElement[bool]:
    return or_(Job.deadline_at < now,
               and_(Job.status == JobStatus.RUNNING, Job.worker_id.in_(_dead_workers(now))))


def reap(now: datetime | None = None) -> list[int]:
    """Fail every unfinished job whose worker died or whose deadline passed, recover its target, commit.

    Return the ids of the jobs failed.
    """
    now = now or utcnow()
    candidates = db.session.execute(
        select(Job.id, Job.status, Job.worker_id)
        .where(Job.status.in_(UNFINISHED), _reapable(now))).all()
    dead = set(db.session.scalars(_dead_workers(now)))
    failed_ids = []
    for job_id, status, worker_id in candidates:
        if status == JobStatus.RUNNING and worker_id in dead:
            message = _("Pekerja berhenti saat menjalankan tugas ini; jalankan lagi.")
        elif status == JobStatus.QUEUED:
            message = _("Tidak ada pekerja yang menjalankan tugas ini sebelum batas waktunya; pastikan "
                        "`wadah worker` berjalan (periksa dengan `wadah doctor`), lalu jalankan lagi.")
        else:
            message = _("Tugas ini melewati batas waktunya dan dihentikan; jalankan lagi. Bila "
                        "berulang, periksa log pekerja dan host tujuannya.")
        # The condition again, in the update itself: a job that ended or beat meanwhile is kept.
        if _end(job_id, message, Job.status.in_(UNFINISHED), _reapable(now), commit=False) is not None:
            failed_ids.append(job_id)
            logger.warning("Job #%s failed by the reaper: %s", job_id, message)
    db.session.execute(delete(Worker).where(Worker.last_beat_at < now - FORGET_WORKERS_AFTER),
                       execution_options={"synchronize_session": False})
    db.session.commit()
    return failed_ids


def reap_aside() -> list[int]:
    """Reap in a session of its own (the caller's session is neither committed nor lost); never raise."""
    try:
        # Flask-SQLAlchemy gives each app context its own session; stored messages are in Indonesian.
        with current_app.app_context(), speaking(None):
            return reap()
    except SQLAlchemyError:  # e.g. the database is busy: the next look reaps
        logger.warning("The job reaper cannot run now", exc_info=True)
        return []


def _end(job_id: int, message: str, *conditions: ColumnElement[bool], commit: bool = True) -> str | None:
    """Fail job `job_id` if `conditions` still hold, then run its kind's recovery; return its status."""
    ended = db.session.execute(
        update(Job).where(Job.id == job_id, *conditions)
        .values(status=JobStatus.FAILED, message=N_("Gagal"), error=message, finished_at=utcnow())
        .execution_options(synchronize_session=False))
    job = db.session.get_one(Job, job_id)
    db.session.refresh(job)
    if ended.rowcount == 1:  # type: ignore[attr-defined]
        for hook in _RECOVERIES.get(job.kind, []):
            try:
                with db.session.begin_nested():
                    hook(job, message)
            except Exception:  # the job is failed all the same; the log says what stayed behind
                logger.exception("Recovering job #%s (%s) failed", job_id, job.kind)
    if commit:
        db.session.commit()
    return job.status if ended.rowcount == 1 else None  # type: ignore[attr-defined]


# --- the heartbeat of a worker process ------------------------------------------------------------


class Heartbeat:
    """Record this worker process, beat every few seconds from a thread, and reap with each beat."""

    def __init__(self, app: Flask, every_s: float = BEAT_EVERY_S) -> None:
        self.app, self.every_s = app, every_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wadah-heartbeat", daemon=True)
        self.worker_id: int | None = None

    def start(self) -> None:
        global _worker_id
        with self.app.app_context():
            worker = Worker(host=socket.gethostname()[:255], pid=os.getpid())
            db.session.add(worker)
            db.session.commit()
            self.worker_id = _worker_id = worker.id
            reap()  # jobs a worker left behind before this one started
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.every_s):
            try:
                with self.app.app_context():
                    db.session.execute(update(Worker).where(Worker.id == self.worker_id)
                                       .values(last_beat_at=utcnow()),
                                       execution_options={"synchronize_session": False})
                    db.session.commit()
                    reap()
            except OperationalError as busy:  # e.g. SQLite locked by a deploy at work: beat again soon
                logger.warning("Worker heartbeat delayed: %s", type(busy.orig).__name__)
            except Exception:  # a lost database: beat again next time
                logger.warning("Worker heartbeat not recorded", exc_info=True)

    def stop(self) -> None:
        """Stop beating, fail what this worker still ran, and remove its row."""
        self._stopping.set()
        self._thread.join(timeout=self.every_s * 2)
        with self.app.app_context():
            for (job_id,) in db.session.execute(select(Job.id).where(
                    Job.worker_id == self.worker_id, Job.status == JobStatus.RUNNING)).all():
                _end(job_id, _("Pekerja dihentikan saat menjalankan tugas ini; jalankan lagi."),
                     Job.status.in_(UNFINISHED), commit=False)
            db.session.execute(delete(Worker).where(Worker.id == self.worker_id),
                               execution_options={"synchronize_session": False})
            db.session.commit()
