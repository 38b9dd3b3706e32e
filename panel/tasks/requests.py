"""Jobs of the SOP's long system actions on a hosting request: the scan (step 4) and the deploy (step 6)."""
from __future__ import annotations

from flask import current_app

from panel import jobs, storage
from panel.extensions import db
from panel.i18n import N_
from panel.i18n import gettext as _
from panel.jobs import task
from panel.models import HostingRequest, Job, User
from panel.services.infra import allocation, subdomains
from panel.services.refused import Refused
from panel.services.releases import deployment, scanning
from panel.services.requests import fulfilment, workflow
from panel.tasks import notices, shared


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
def allocate_request(job_id: int, request_id: int, user_id: int) -> str:
    """Check and allocate a request's subdomain, host and address (SOP step 5), reporting on its Job row."""
    job, request, user = _job_parts(job_id, request_id, user_id)
    jobs.report(job, 10, N_("Memeriksa sub-domain di Wadah dan di DNS"))
    try:
        zone = fulfilment.pemda_zone(current_app.config["PEMDA_DOMAIN"])
        policy = subdomains.SubdomainPolicy.from_config(current_app.config)
        app = fulfilment.allocate(request, user, zone, policy)
    except allocation.SubdomainUnavailable as taken:  # only the OPD can choose another name
        db.session.rollback()
        workflow.return_to_opd(request, str(taken))
        jobs.failed(job, _("%(reason)s Permohonan dikembalikan ke OPD untuk memilih sub-domain lain.",
                           reason=str(taken)))
    except Refused as refused:  # no host has room, the zone's server is down, the step moved on
        db.session.rollback()
        jobs.failed(job, str(refused))
    else:
        jobs.succeeded(job, f"{app.fqdn} dialokasikan.", {"app_id": app.id, "fqdn": app.fqdn,
                                                           "host": app.host.name if app.host else None,
                                                           "ip": app.ip})
    db.session.commit()
    return job.status


@task()
def deploy_request(job_id: int, request_id: int, user_id: int) -> str:
    """Deploy a request's scanned bundle to its host (SOP step 6), reporting on its Job row."""
    job, request, user = _job_parts(job_id, request_id, user_id)
    jobs.report(job, 10, N_("Mengirim berkas ke agen host"))
    try:
        zone = fulfilment.pemda_zone(current_app.config["PEMDA_DOMAIN"])
        outcome = fulfilment.deploy(request, user, shared.agents(), zone, shared.build_scanning())
    except (fulfilment.ActionRefused, deployment.DeployFailed) as refused:
        failed_release = _last_release(request)
        db.session.commit()  # keep the failed release and the app's state: the step stays open
        jobs.failed(job, str(refused))
        db.session.commit()
        if failed_release is not None:
            notices.notify_release(failed_release)
        return job.status
    release = outcome.release
    jobs.succeeded(job, f"Rilis ke-{release.number} berjalan di {release.app.fqdn}"
                   + (f" ({outcome.dns_problem})" if outcome.dns_problem else ""),
                   {"release_id": release.id})
    db.session.commit()
    notices.notify_release(release.id)
    return job.status


# What a scan or deploy that died half-way leaves behind, put back so the technician can retry; an
# allocation changes nothing before its end, so failing its job is enough.


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


def _job_parts(job_id: int, request_id: int, user_id: int) -> tuple[Job, HostingRequest, User]:
    job = shared.start(job_id)
    return job, db.session.get_one(HostingRequest, request_id), db.session.get_one(User, user_id)


def _last_release(request: HostingRequest) -> int | None:
    app = allocation.app_of(request)
    return app.releases[-1].id if app and app.releases else None
