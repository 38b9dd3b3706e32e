"""Background jobs: the SOP's long system actions (scan, deploy) with their Job rows, the work an
app's Web Panel asks of its host, and the notices — email a step's role when the step opens or runs
past its Mutu Baku, and an app's administrators when its deploy finishes or fails.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import crontab
from sqlalchemy import select, update

from panel import audit, crypto, events, jobs, storage
from panel.extensions import db
from panel.i18n import N_
from panel.jobs import periodic_task, task
from panel.models import (
    App,
    AppUpload,
    Host,
    HostingRequest,
    Job,
    JobStatus,
    Release,
    ReleaseStatus,
    RequestStep,
    UploadStatus,
    User,
    Zone,
)
from panel.models.base import utcnow
from panel.services import notify
from panel.services.apps import app_operations
from panel.services.infra import allocation, dns, hosts
from panel.services.releases import app_uploads, deployment, scanning
from panel.services.requests import fulfilment, sla, workflow

logger = logging.getLogger(__name__)



@task()
def scan_request(job_id: int, request_id: int, user_id: int) -> str:
    """Scan a request's bundle (SOP step 4), reporting progress on its Job row."""
    job, request, user = _job_parts(job_id, request_id, user_id)

    def progress(done: int, total: int) -> None:
        jobs.report(job, int(100 * done / max(total, 1)), f"{done} dari {total} berkas diperiksa")

    try:
        report = fulfilment.scan(request, user, storage.artifacts(), storage.attachments(),
                                 current_app.config["CLAMD_URL"], progress)
    except (fulfilment.ActionRefused, workflow.WorkflowError) as refused:
        db.session.rollback()
        jobs.failed(job, str(refused))
    else:
        jobs.succeeded(job, f"Hasil pemindaian: {report.verdict}", {"verdict": report.verdict,
                                                                    "scan_report_id": report.id})
    db.session.commit()
    return job.status


@task()
def deploy_request(job_id: int, request_id: int, user_id: int) -> str:
    """Deploy a request's scanned bundle to its host (SOP step 6), reporting on its Job row."""
    job, request, user = _job_parts(job_id, request_id, user_id)
    jobs.report(job, 10, N_("Mengirim berkas ke agen host"))
    try:
        zone = fulfilment.pemda_zone(current_app.config["PEMDA_DOMAIN"])
        outcome = fulfilment.deploy(request, user, hosts.PanelPKI(current_app.instance_path),
                                    storage.artifacts(), zone, _build_scanning())
    except (fulfilment.ActionRefused, deployment.DeployFailed) as refused:
        failed_release = _last_release(request)
        db.session.commit()  # keep the failed release and the app's state: the step stays open
        jobs.failed(job, str(refused))
        db.session.commit()
        if failed_release is not None:
            notify_release(failed_release)
        return job.status
    release = outcome.release
    jobs.succeeded(job, f"Rilis ke-{release.number} berjalan di {release.app.fqdn}"
                   + (f" ({outcome.dns_problem})" if outcome.dns_problem else ""),
                   {"release_id": release.id})
    db.session.commit()
    notify_release(release.id)
    return job.status


# What a scan or deploy that died half-way leaves behind, put back so the technician can retry; the
# other kinds change nothing before their end, so failing their job is enough.


@jobs.recovery("scan")
def recover_scan(job: Job, reason: str) -> None:
    """End the half-done scan report of the request's bundle; the scan step stays open."""
    request = db.session.get(HostingRequest, int(job.target_id or 0))
    if request is not None:
        scanning.abandon_unfinished(request.artifact_sha256, reason)


@jobs.recovery("deploy")
def recover_deploy(job: Job, reason: str) -> None:
    """Fail the release a half-done deploy left pending; the deploy step stays open."""
    request = db.session.get(HostingRequest, int(job.target_id or 0))
    app = allocation.app_of(request) if request is not None else None
    if app is not None:
        deployment.abandon(app)


@periodic_task(crontab(minute="*"))
def refresh_hosts() -> int:
    """Ask every enrolled host's agent for its facts, so allocation sees current capacity."""
    pki = hosts.PanelPKI(current_app.instance_path)
    enrolled = db.session.scalars(select(Host).where(Host.cert_fingerprint.is_not(None))).all()
    for host in enrolled:
        try:
            hosts.refresh_facts(pki, host)
        except hosts.HostRefused as unreachable:
            logger.warning("%s", unreachable)
    db.session.commit()
    return len(enrolled)


@task()
def refresh_host(job_id: int, host_id: int) -> str:
    """Ask one host's agent for its facts now, as the administrator asked, reporting on its Job row."""
    job = _start(job_id)
    host = db.session.get_one(Host, host_id)
    try:
        facts = hosts.refresh_facts(hosts.PanelPKI(current_app.instance_path), host)
    except hosts.HostRefused as unreachable:
        jobs.failed(job, str(unreachable))  # the host stays marked unreachable
    else:
        jobs.succeeded(job, f"Fakta {host.name} diperbarui", {"apps_total": facts.get("apps_total")})
    db.session.commit()
    return job.status


@task()
def probe_zone(job_id: int, zone_id: int) -> str:
    """Check a zone's primary serves it and accepts its TSIG key, reporting on its Job row."""
    job = _start(job_id)
    zone = db.session.get_one(Zone, zone_id)
    try:
        serial = dns.probe(dns.ZoneAccess.from_zone(zone))
    except dns.DnsError as error:  # the messages name the server and the key, never the secret
        jobs.failed(job, str(error))
    else:
        jobs.succeeded(job, f"Server DNS melayani zona {zone.name} dan menerima kunci TSIG-nya "
                            f"(serial SOA {serial})", {"serial": serial})
    db.session.commit()
    return job.status


# --- the Web Panel of one app -------------------------------------------------------------------

LOG_FOLLOW_INTERVAL_S = 3  # between two fetches of a followed log
CONTROL_MESSAGES = {"start": N_("Menjalankan aplikasi"), "stop": N_("Menghentikan aplikasi"),
                    "restart": N_("Memulai ulang aplikasi"), "status": N_("Menanyakan status ke agen")}
CONTROL_DONE = {"start": N_("Aplikasi berjalan"), "stop": N_("Aplikasi dihentikan"),
                "restart": N_("Aplikasi dimulai ulang"), "status": N_("Status diperbarui")}


@task()
def control_app(job_id: int, app_id: int, user_id: int, action: str) -> str:
    """Start, stop or restart an app, or read its state, on its host; report on its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        status = app_operations.control(app, action, user, _pki())
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
        logs = app_operations.fetch_logs(db.session.get_one(App, app_id), _pki(), lines)
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
        release = app_operations.rollback(app, user, _pki())
        return f"Kembali ke rilis ke-{release.number}", {"release_id": release.id}

    return _app_job(job_id, app_id, user_id, N_("Mengembalikan rilis sebelumnya"), work)


@task()
def apply_env(job_id: int, app_id: int, user_id: int) -> str:
    """Push an app's environment variables to its host (which restarts it), reporting on its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        names = app_operations.apply_env(app, user, _pki())
        return f"{len(names)} variabel lingkungan diterapkan", {"names": names}

    return _app_job(job_id, app_id, user_id, N_("Menerapkan variabel lingkungan"), work)


@task()
def set_storage_limit(job_id: int, app_id: int, user_id: int, storage_mb: int) -> str:
    """Give an app's writable data a new limit on its host, then in the panel, reporting on its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        status = app_operations.set_storage_limit(app, storage_mb, user, _pki())
        return N_("Batas penyimpanan diterapkan"), {"storage_mb": storage_mb, "status": status}

    return _app_job(job_id, app_id, user_id, N_("Menerapkan batas penyimpanan"), work)


@task()
def fetch_database(job_id: int, app_id: int) -> str:
    """Read how an app reaches its database (never its password) into its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        details = app_operations.database_details(app, _pki())
        return (N_("Rincian basis data diperbarui") if details else N_("Aplikasi tidak memiliki basis data"),
                {"database": details})

    return _app_job(job_id, app_id, None, N_("Menanyakan basis data ke agen"), work)


@task()
def reset_database_password(job_id: int, app_id: int, user_id: int) -> str:
    """Give an app's database account a new password; keep it, encrypted, until its requester sees it."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        fresh = app_operations.reset_database_password(app, user, _pki())
        return N_("Kata sandi baru siap ditampilkan sekali"), {"sealed": crypto.encrypt(fresh)}

    return _app_job(job_id, app_id, user_id, N_("Mengatur ulang kata sandi basis data"), work)


@task()
def check_domain(job_id: int, app_id: int) -> str:
    """Ask the zone's server about an app's name and the agent how it serves it, into its Job row."""
    def work(app: App, user: User | None) -> tuple[str, dict[str, Any]]:
        found = app_operations.domain_status(app, app_operations.zone_of(app), _pki(),
                                             current_app.config["TLS_CHECK_PORT"])
        return N_("Pemeriksaan selesai"), found

    return _app_job(job_id, app_id, None, N_("Memeriksa nama dan layanan"), work)


@periodic_task(crontab(minute="*/5"))
def collect_metrics() -> int:
    """Sample the resource use of every running app, and forget samples past their retention."""
    taken = app_operations.collect_metrics(_pki(), utcnow())
    db.session.commit()
    return taken


@task()
def process_upload(job_id: int, upload_id: int) -> str:
    """Scan a new version uploaded through the Web Panel; deploy it at once when it is clean."""
    job = _start(job_id)
    upload = db.session.get_one(AppUpload, upload_id)

    def progress(done: int, total: int) -> None:
        jobs.report(job, int(60 * done / max(total, 1)), f"{done} dari {total} berkas diperiksa")

    try:
        report = app_uploads.scan(upload, storage.artifacts(), storage.attachments(),
                                  current_app.config["CLAMD_URL"], progress)
    except app_uploads.UploadRefused as refused:
        db.session.rollback()
        jobs.failed(job, str(refused))
        db.session.commit()
        return job.status
    db.session.commit()
    if upload.status == UploadStatus.DEPLOYING:
        return _deploy_upload(job, upload)
    if upload.status == UploadStatus.FAILED:
        jobs.failed(job, upload.reason or N_("Pemindaian gagal"))
    else:
        waiting = " — menunggu tinjauan teknisi" if upload.status == UploadStatus.REVIEW else ""
        jobs.succeeded(job, f"Hasil pemindaian: {report.verdict}{waiting}",
                       {"verdict": report.verdict, "scan_report_id": report.id})
    db.session.commit()
    return job.status


@task()
def deploy_upload(job_id: int, upload_id: int) -> str:
    """Deploy a new version a technician accepted after review, reporting on its Job row."""
    return _deploy_upload(_start(job_id), db.session.get_one(AppUpload, upload_id))


def _deploy_upload(job: Job, upload: AppUpload) -> str:
    jobs.report(job, 70, N_("Memasang versi baru di host"))
    app = upload.app
    before, as_of = deployment.latest_release_number(app), utcnow()
    try:
        zone = fulfilment.pemda_zone(app.zone)
        outcome = app_uploads.deploy(upload, _pki(), storage.artifacts(), zone,
                                     app_operations.environment(app), _build_scanning())
    except (fulfilment.ActionRefused, deployment.DeployFailed, app_uploads.UploadRefused) as refused:
        made = next((r for r in reversed(app.releases) if r.number > before), None)
        app_uploads.fail(upload, str(refused), made)
        jobs.failed(job, str(refused))
        db.session.commit()  # keep the failed release: the old one still serves
        if made is not None:
            notify_release(made.id)
        return job.status
    note = f" ({outcome.dns_problem})" if outcome.dns_problem else ""
    return _upload_deployed(job, upload, outcome.release, as_of, note)


@jobs.recovery("app_upload")
def recover_upload(job: Job, reason: str) -> None:
    """Fail an upload left scanning or deploying, so the app takes a new version (or the same) again."""
    upload = db.session.get(AppUpload, int(job.target_id or 0))
    if upload is None or upload.status not in app_uploads.IN_FLIGHT:
        return
    scanning.abandon_unfinished(upload.artifact_sha256, reason)
    deployment.abandon(upload.app)
    app_uploads.fail(upload, reason)


def _upload_deployed(job: Job, upload: AppUpload, release: Release, as_of: datetime, note: str) -> str:
    app_operations.mark_env_applied(upload.app, as_of)
    app_uploads.deployed(upload, release)
    jobs.succeeded(job, f"Rilis ke-{release.number} berjalan di {upload.app.fqdn}{note}",
                   {"release_id": release.id})
    db.session.commit()
    notify_release(release.id)
    return job.status


def _app_job(job_id: int, app_id: int, user_id: int | None, doing: str,
             work: Callable[[App, User | None], tuple[str, dict[str, Any]]]) -> str:
    job = _start(job_id)
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


def _pki() -> hosts.PanelPKI:
    return hosts.PanelPKI(current_app.instance_path)


def _build_scanning() -> deployment.BuildScanning:
    return deployment.BuildScanning(documents=storage.attachments(),
                                    clamd_url=current_app.config["CLAMD_URL"],
                                    workdir=Path(current_app.instance_path) / "builds")


def _start(job_id: int) -> Job:
    job = db.session.get_one(Job, job_id)
    jobs.started(job)
    db.session.commit()
    return job


def _job_parts(job_id: int, request_id: int, user_id: int) -> tuple[Job, HostingRequest, User]:
    job = _start(job_id)
    return job, db.session.get_one(HostingRequest, request_id), db.session.get_one(User, user_id)


def _last_release(request: HostingRequest) -> int | None:
    app = allocation.app_of(request)
    return app.releases[-1].id if app and app.releases else None


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


def init_app(app: Flask) -> None:
    """Mail each step's role when the step opens (after the transaction that opened it commits)."""
    events.step_opened.connect(announce_step)


def announce_step(step: RequestStep, **_: Any) -> None:
    """Queue the step-assigned email for when the transaction that opened `step` commits."""
    jobs.after_commit(notify_step_opened, step.id)


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
