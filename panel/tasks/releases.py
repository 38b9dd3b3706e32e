"""Jobs on a new version uploaded through an app's Web Panel: its scan and, once it may run, its deploy."""
from __future__ import annotations

from datetime import datetime

from flask import current_app

from panel import jobs, storage
from panel.extensions import db
from panel.i18n import N_
from panel.jobs import task
from panel.models import AppUpload, Job, Release, UploadStatus
from panel.models.base import utcnow
from panel.services.apps import app_operations
from panel.services.releases import app_uploads, deployment, scanning
from panel.services.requests import fulfilment
from panel.tasks import notices, shared


@task()
def process_upload(job_id: int, upload_id: int) -> str:
    """Scan a new version uploaded through the Web Panel; deploy it at once when it is clean."""
    job = shared.start(job_id)
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
    return _deploy_upload(shared.start(job_id), db.session.get_one(AppUpload, upload_id))


def _deploy_upload(job: Job, upload: AppUpload) -> str:
    jobs.report(job, 70, N_("Memasang versi baru di host"))
    app = upload.app
    before, as_of = deployment.latest_release_number(app), utcnow()
    try:
        zone = fulfilment.pemda_zone(app.zone)
        outcome = app_uploads.deploy(upload, shared.agents(), zone,
                                     app_operations.environment(app), shared.build_scanning())
    except (fulfilment.ActionRefused, deployment.DeployFailed, app_uploads.UploadRefused) as refused:
        made = next((r for r in reversed(app.releases) if r.number > before), None)
        app_uploads.fail(upload, str(refused), made)
        jobs.failed(job, str(refused))
        db.session.commit()  # keep the failed release: the old one still serves
        if made is not None:
            notices.notify_release(made.id)
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
    notices.notify_release(release.id)
    return job.status
