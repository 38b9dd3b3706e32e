"""Jobs an app's Web Panel asks of its host: control, logs, rollback, environment, storage, database
and domain checks, and the periodic sampling of every running app's resource use.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from huey import crontab

from panel import crypto, jobs
from panel.extensions import db
from panel.i18n import N_
from panel.jobs import periodic_task, task
from panel.models import App, Job, JobStatus, User
from panel.models.base import utcnow
from panel.services.apps import app_operations
from panel.tasks import notices, shared

LOG_FOLLOW_INTERVAL_S = 3  # between two fetches of a followed log
CONTROL_MESSAGES = {"start": N_("Menjalankan aplikasi"), "stop": N_("Menghentikan aplikasi"),
                    "restart": N_("Memulai ulang aplikasi"), "status": N_("Menanyakan status ke agen")}
CONTROL_DONE = {"start": N_("Aplikasi berjalan"), "stop": N_("Aplikasi dihentikan"),
                "restart": N_("Aplikasi dimulai ulang"), "status": N_("Status diperbarui")}


@task()
def control_app(job_id: int, app_id: int, user_id: int, action: str) -> str:
    """Start, stop or restart an app, or read its state, on its host; report on its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        status = app_operations.control(app, action, user, shared.agents())
        return CONTROL_DONE[action], {"action": action, "status": status}

    return _app_job(job_id, app_id, user_id, CONTROL_MESSAGES.get(action, action), work)


@task()
def fetch_logs(job_id: int, app_id: int, lines: int, follow_until: float | None) -> str:
    """Fetch an app's last log lines into its Job row; following, fetch again a little later."""
    job = db.session.get_one(Job, job_id)
    if job.status == JobStatus.QUEUED:
        jobs.started(job)
        db.session.commit()
    elif job.status != JobStatus.RUNNING:
        return job.status  # stopped by its owner meanwhile
    try:
        logs = app_operations.fetch_logs(db.session.get_one(App, app_id), shared.agents(), lines)
    except app_operations.OperationRefused as refused:
        db.session.rollback()
        jobs.failed(job, str(refused))
        db.session.commit()
        return job.status
    now = utcnow()
    result = {"lines": lines, "logs": logs, "at": now.isoformat(timespec="seconds"),
              "follow_until": follow_until}
    if follow_until is not None and now.timestamp() < follow_until:
        if jobs.report_partial(job, N_("Mengikuti log"), result):
            fetch_logs.schedule((job_id, app_id, lines, follow_until), delay=LOG_FOLLOW_INTERVAL_S)
        return job.status
    jobs.succeeded(job, f"{lines} baris terakhir diambil", result)
    db.session.commit()
    return job.status


@task()
def rollback_app(job_id: int, app_id: int, user_id: int) -> str:
    """Return an app to its previous release, reporting on its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        release = app_operations.rollback(app, user, shared.agents())
        return f"Kembali ke rilis ke-{release.number}", {"release_id": release.id}

    return _app_job(job_id, app_id, user_id, N_("Mengembalikan rilis sebelumnya"), work)


@task()
def apply_env(job_id: int, app_id: int, user_id: int) -> str:
    """Push an app's environment variables to its host (which restarts it), reporting on its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        names = app_operations.apply_env(app, user, shared.agents())
        return f"{len(names)} variabel lingkungan diterapkan", {"names": names}

    return _app_job(job_id, app_id, user_id, N_("Menerapkan variabel lingkungan"), work)


@task()
def set_storage_limit(job_id: int, app_id: int, user_id: int, storage_mb: int) -> str:
    """Give an app's writable data a new limit on its host, then in the panel, reporting on its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        status = app_operations.set_storage_limit(app, storage_mb, user, shared.agents())
        return N_("Batas penyimpanan diterapkan"), {"storage_mb": storage_mb, "status": status}

    return _app_job(job_id, app_id, user_id, N_("Menerapkan batas penyimpanan"), work)


@task()
def fetch_database(job_id: int, app_id: int) -> str:
    """Read how an app reaches its database (never its password) into its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        details = app_operations.database_details(app, shared.agents())
        return (N_("Rincian basis data diperbarui") if details else N_("Aplikasi tidak memiliki basis data"),
                {"database": details})

    return _app_job(job_id, app_id, None, N_("Menanyakan basis data ke agen"), work)


@task()
def reset_database_password(job_id: int, app_id: int, user_id: int) -> str:
    """Give an app's database account a new password; keep it, encrypted, until its requester sees it."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        fresh = app_operations.reset_database_password(app, user, shared.agents())
        return N_("Kata sandi baru siap ditampilkan sekali"), {"sealed": crypto.encrypt(fresh)}

    return _app_job(job_id, app_id, user_id, N_("Mengatur ulang kata sandi basis data"), work)


@task()
def check_domain(job_id: int, app_id: int) -> str:
    """Ask the zone's server about an app's name and the agent how it serves it, into its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        found = app_operations.domain_status(app, app_operations.zone_of(app), shared.agents(),
                                             current_app.config["TLS_CHECK_PORT"])
        return N_("Pemeriksaan selesai"), found

    return _app_job(job_id, app_id, None, N_("Memeriksa nama dan layanan"), work)


@task()
def remove_app(job_id: int, app_id: int, user_id: int, reason: str) -> str:
    """Decommission an app: its name out of the zone, the app off its host, its administrators told."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        done = app_operations.decommission(app, user, reason, shared.agents(), app_operations.zone_of(app),
                                           utcnow())
        jobs.after_commit(notices.notify_app_removed, app.id)
        return N_("Aplikasi dihapus"), done

    return _app_job(job_id, app_id, user_id, N_("Menghapus aplikasi"), work)


@periodic_task(crontab(minute="*/5"))
def collect_metrics() -> int:
    """Sample the resource use of every running app, and forget samples past their retention."""
    taken = app_operations.collect_metrics(shared.agents(), utcnow())
    db.session.commit()
    return taken


def _app_job(job_id: int, app_id: int, user_id: int | None, doing: str,
             work: Callable[[App, User | None], tuple[str, dict[str, Any]]]) -> str:
    job = shared.start(job_id)
    app = db.session.get_one(App, app_id)
    user = db.session.get(User, user_id) if user_id is not None else None
    jobs.report(job, 20, doing)
    try:
        message, result = work(app, user)
    except app_operations.OperationRefused as refused:
        db.session.rollback()  # nothing half-done is kept; the error says why
        jobs.failed(job, str(refused))
    else:
        jobs.succeeded(job, message, result)
    db.session.commit()
    return job.status
