"""What a user can do to a hosted app through its Web Panel, wired to this panel's configuration and queues.

Each function checks that the work may start, refuses a second one while the first is unfinished (a
double submit starts nothing), and launches the job that talks to the host; it raises one of
`REFUSALS` with a message for the user and leaves committing to the caller, as `panel.actions.requests` does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from panel import audit, crypto, jobs, storage
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import App, AppAccount, AppStatus, AppUpload, Job, JobStatus, User
from panel.models.base import utcnow
from panel.services.apps import app_operations, external_apps, handover
from panel.services.refused import Refused
from panel.services.releases import app_uploads
from panel.services.requests import hosting_requests
from panel.tasks import apps as app_tasks
from panel.tasks import releases as release_tasks

# What the pages flash and the API answers as a refusal (a job already running is one too).
REFUSALS: tuple[type[Exception], ...] = (Refused,)

# The kinds of the jobs the Web Panel launches; each targets the App, uploads target the AppUpload.
CONTROL, LOGS, ROLLBACK, ENV = "app_control", "app_logs", "app_rollback", "app_env"
DATABASE, DATABASE_PASSWORD, DOMAIN, UPLOAD = "app_database", "app_db_password", "app_domain", "app_upload"
STORAGE = "app_storage"
REMOVAL = "app_removal"
# Work that changes the app on its host: one at a time, whichever it is.
HOST_CHANGES = (CONTROL, ROLLBACK, ENV, DATABASE_PASSWORD, STORAGE, REMOVAL)
FOLLOW_FOR = timedelta(minutes=5)  # how long "Ikuti" keeps fetching a log before it stops by itself
PASSWORD_SHOWN_WITHIN = timedelta(minutes=30)  # after that a new database password is never shown


class AlreadyRemoved(Refused):
    """The app was removed already, or its removal is under way: a second one starts nothing."""


def start_removal(app: App, user: User, reason: str) -> Job:
    """Queue decommissioning the app: off its host and out of its zone, kept here as `removed`."""
    if app.status == AppStatus.REMOVED or jobs.running_of((REMOVAL,), app) is not None:
        raise AlreadyRemoved(_("Aplikasi ini sudah dihapus atau sedang dihapus."))
    reason = app_operations.check_removal(app, reason)
    _refuse_while(app, HOST_CHANGES)
    audit.record("app.removal_requested", app, actor=user, reason=reason)
    return jobs.launch(REMOVAL, app, user, app_tasks.remove_app, app.id, user.id, reason)


def hand_over_login(app: App, user: User, username: str | None) -> tuple[AppAccount, str]:
    """Reissue the app's Web Panel login for a new manager; the password is returned once."""
    return handover.hand_over(app, user, current_app.config["PASSWORD_MIN_LENGTH"], username or None)


def record_external(entry: external_apps.ExternalApp, user: User) -> App:
    """Record an app hosted before Wadah, so the inventory and reports count it."""
    return external_apps.record(entry, user)


def start_control(app: App, user: User, action: str) -> Job:
    """Queue starting, stopping or restarting the app, or reading its state on the host."""
    if action not in app_operations.CONTROL_ACTIONS:
        raise app_operations.OperationRefused(_("Tindakan tidak dikenal: %(action)s", action=action))
    _expect_host(app)
    _refuse_while(app, HOST_CHANGES if action != "status" else (CONTROL,))
    return jobs.launch(CONTROL, app, user, app_tasks.control_app, app.id, user.id, action)


def last_known_status(app: App) -> tuple[dict[str, Any] | None, Job | None]:
    """Return the newest state the agent reported for the app, and the job that asked for it."""
    job = jobs.latest(CONTROL, app)
    done = job if job is None or job.status == JobStatus.SUCCEEDED else db.session.scalar(
        select(Job).where(Job.kind == CONTROL, Job.target_type == "App", Job.target_id == str(app.id),
                          Job.status == JobStatus.SUCCEEDED).order_by(Job.id.desc()).limit(1))
    return (done.result.get("status") if done else None), job


def start_storage_change(app: App, user: User, storage_mb: int) -> Job:
    """Queue giving the app's writable data a new limit (shrinking stops the app for a moment)."""
    _expect_host(app)
    app_operations.check_storage_mb(storage_mb)
    _refuse_while(app, HOST_CHANGES)
    return jobs.launch(STORAGE, app, user, app_tasks.set_storage_limit, app.id, user.id, storage_mb)


def last_known_storage(app: App) -> tuple[dict[str, Any] | None, Job | None]:
    """Return the newest use of the app's data volume an agent reported, and the job that brought it."""
    recent = db.session.scalars(
        select(Job).where(Job.kind.in_((CONTROL, STORAGE)), Job.target_type == "App",
                          Job.target_id == str(app.id), Job.status == JobStatus.SUCCEEDED)
        .order_by(Job.id.desc()).limit(10))
    for job in recent:
        status = (job.result or {}).get("status")
        if isinstance(status, dict):
            return status.get("storage"), job
    return None, None


def start_logs(app: App, user: User, lines: int, follow: bool) -> Job:
    """Queue fetching the app's last `lines` log lines; following, the job keeps fetching for a while."""
    _expect_host(app)
    _refuse_while(app, (LOGS,))
    until = (utcnow() + FOLLOW_FOR).timestamp() if follow else None
    lines = max(1, min(app_operations.LOG_LINES_MAX, lines))
    return jobs.launch(LOGS, app, user, app_tasks.fetch_logs, app.id, lines, until)


def stop_following(app: App) -> bool:
    """Stop a log being followed; return whether one was."""
    job = jobs.latest(LOGS, app)
    return job is not None and jobs.stop(job, _("Berhenti mengikuti log"))


def start_rollback(app: App, user: User) -> Job:
    """Queue returning the app to its previous release."""
    _expect_host(app)
    app_operations.expect_rollback_possible(app)
    _refuse_while(app, HOST_CHANGES)
    return jobs.launch(ROLLBACK, app, user, app_tasks.rollback_app, app.id, user.id)


def start_env_apply(app: App, user: User) -> Job:
    """Queue pushing the app's environment variables to its host, which restarts it onto them."""
    _expect_host(app)
    _refuse_while(app, HOST_CHANGES)
    app_operations.check_environment(app)
    return jobs.launch(ENV, app, user, app_tasks.apply_env, app.id, user.id)


def start_database_fetch(app: App, user: User) -> Job:
    """Queue reading how the app reaches its database."""
    _expect_host(app)
    _refuse_while(app, (DATABASE,))
    return jobs.launch(DATABASE, app, user, app_tasks.fetch_database, app.id)


def start_database_password_reset(app: App, user: User) -> Job:
    """Queue giving the app's database account a new password; only `user` will see it, once."""
    _expect_host(app)
    _refuse_while(app, HOST_CHANGES)
    audit.record("app.database_reset_requested", app, actor=user)
    return jobs.launch(DATABASE_PASSWORD, app, user, app_tasks.reset_database_password, app.id, user.id)


def take_database_password(app: App, user: User, job: Job) -> str | None:
    """Return the new password a reset made, once, to the user who asked; None if it waited too long.

    Either way the panel forgets it: only the agent and the app keep it.
    """
    sealed = job.result.get("sealed") if job.status == JobStatus.SUCCEEDED else None
    if (job.kind != DATABASE_PASSWORD or job.target_type != "App" or job.target_id != str(app.id)
            or job.created_by_id != user.id or not sealed):
        raise app_operations.OperationRefused(
            _("Kata sandi baru hanya ditampilkan sekali, kepada yang meminta pengaturan ulang."))
    if utcnow() - app_operations.as_utc(job.finished_at or utcnow()) > PASSWORD_SHOWN_WITHIN:
        job.result = {"discarded": True}
        return None
    job.result = {"shown": True}
    audit.record("app.database_reset_shown", app, actor=user, job=job.id)
    return crypto.decrypt(sealed)


def start_domain_check(app: App, user: User) -> Job:
    """Queue asking the zone's server about the app's name, and the agent how it is served."""
    app_operations.expect_managed(app)
    _refuse_while(app, (DOMAIN,))
    return jobs.launch(DOMAIN, app, user, app_tasks.check_domain, app.id)


# --- new versions ------------------------------------------------------------------------------


def receive_upload(app: App, user: User, bundle: hosting_requests.Upload) -> AppUpload:
    """Store a new version of the app and queue its scan (and, when it is clean, its deploy)."""
    _expect_host(app)
    upload = app_uploads.receive(app, user, bundle, storage.artifacts(),
                                 current_app.config["BUNDLE_MAX_BYTES"])
    db.session.commit()  # the row exists before its job is queued
    jobs.launch(UPLOAD, upload, user, release_tasks.process_upload, upload.id)
    return upload


def accept_upload(upload: AppUpload, user: User, reason: str) -> Job:
    """Accept an upload's `review` verdict with a written reason, then queue its deploy."""
    _refuse_while(upload.app, HOST_CHANGES)
    app_uploads.accept(upload, user, reason)
    db.session.commit()
    return jobs.launch(UPLOAD, upload, user, release_tasks.deploy_upload, upload.id)


@dataclass(frozen=True)
class UploadRow:
    upload: AppUpload
    job: Job | None  # its newest scan or deploy job


def upload_rows(app: App) -> list[UploadRow]:
    return [UploadRow(upload, jobs.latest(UPLOAD, upload)) for upload in app_uploads.uploads_of(app)]


def _expect_host(app: App) -> None:
    app_operations.expect_managed(app)
    if app.host is None:
        raise app_operations.OperationRefused(_("Aplikasi belum dialokasikan ke host."))


def _refuse_while(app: App, kinds: tuple[str, ...]) -> None:
    if jobs.running_of(kinds, app) is not None:
        raise jobs.JobAlreadyRunning(_("Pekerjaan untuk aplikasi ini masih berjalan; tunggu hingga selesai."))
    if any(kind in HOST_CHANGES for kind in kinds) and app_uploads.in_flight(app) is not None:
        raise jobs.JobAlreadyRunning(
            _("Versi baru aplikasi ini sedang dipindai atau dipasang; tunggu hingga selesai."))
