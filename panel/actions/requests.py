"""What a user can do to a hosting request, wired to this panel's configuration and queues.

The web pages and the JSON API both call these functions, so a rule or a limit has one home; they
differ only in how they read input and answer. Each function raises one of `REFUSALS` with a
message fit for the user, and leaves committing to the caller.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import current_app
from sqlalchemy import select

from panel import jobs, storage
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import AppAccount, HostingRequest, Job, User
from panel.services.infra import subdomains
from panel.services.refused import Refused
from panel.services.releases import deployment
from panel.services.requests import fulfilment, hosting_requests, sop, workflow
from panel.services.requests.sop import StepAction
from panel.tasks import requests as request_tasks

# The kinds of the jobs a request's steps launch; each targets the HostingRequest.
SCAN, ALLOCATE, DEPLOY = "scan", "allocate", "deploy"
# What the pages flash and the API answers as a refusal (422; a job already running is 409).
REFUSALS: tuple[type[Exception], ...] = (Refused, deployment.DeployFailed)


def file_request(user: User, draft: workflow.RequestDraft,
                 letters_by_kind: Mapping[str, hosting_requests.Upload],
                 bundle: hosting_requests.Upload | None, submission_key: str | None,
                 recommendation: str = "", template_key: str | None = None) -> HostingRequest:
    """File a new request under the configured SOP template (or SOP 002); the same key files once."""
    config = current_app.config
    if template_key not in (None, config["DEFAULT_SOP_TEMPLATE"], sop.DEVELOPMENT_TEMPLATE):
        raise hosting_requests.RequestRefused(_("Templat SOP %(key)s tidak dapat dipakai untuk permohonan.",
                                                key=repr(template_key)))
    return hosting_requests.file_request(
        user, draft, letters_by_kind, bundle, submission_key=submission_key,
        template_key=template_key or config["DEFAULT_SOP_TEMPLATE"],
        number_pattern=config["REQUEST_NUMBER_PATTERN"],
        attachment_store=storage.attachments(), artifact_store=storage.artifacts(),
        limits=hosting_requests.Limits(config["BUNDLE_MAX_BYTES"], config["ATTACHMENT_MAX_BYTES"]),
        subdomain_policy=subdomains.SubdomainPolicy.from_config(config), recommendation=recommendation)


def start_scan(request: HostingRequest, user: User) -> Job:
    """Queue the security scan of the request's bundle (SOP step 4)."""
    fulfilment.expect_action(request, StepAction.SCAN)
    fulfilment.bundle_of(request)
    _refuse_second(SCAN, request)
    return jobs.launch(SCAN, request, user, request_tasks.scan_request, request.id, user.id)


def accept_review(request: HostingRequest, user: User, reason: str) -> None:
    """Accept a `review` verdict with a written reason."""
    fulfilment.accept_review(request, user, reason)


def replace_bundle(request: HostingRequest, user: User, upload: hosting_requests.Upload) -> None:
    """Store a new app bundle for the request; it has to be scanned again."""
    artifact = hosting_requests.store_bundle(user, upload, storage.artifacts(),
                                             current_app.config["BUNDLE_MAX_BYTES"])
    fulfilment.replace_bundle(request, user, artifact)


def start_allocation(request: HostingRequest, user: User) -> Job:
    """Queue checking and allocating the subdomain, host and address for the request (SOP step 5).

    The check asks the zone's server and probes addresses, so it runs as a job, not in the request.
    """
    fulfilment.expect_action(request, StepAction.ALLOCATE)
    fulfilment.expect_not_with_opd(request)
    fulfilment.pemda_zone(current_app.config["PEMDA_DOMAIN"])
    _refuse_second(ALLOCATE, request)
    return jobs.launch(ALLOCATE, request, user, request_tasks.allocate_request, request.id, user.id)


def start_deploy(request: HostingRequest, user: User) -> Job:
    """Queue the deploy of the scanned bundle to the allocated host (SOP step 6)."""
    fulfilment.expect_action(request, StepAction.DEPLOY)
    _refuse_second(DEPLOY, request)
    return jobs.launch(DEPLOY, request, user, request_tasks.deploy_request, request.id, user.id)


def issue_login(request: HostingRequest, user: User) -> tuple[AppAccount, str]:
    """Create the app's Web Panel login; the password is returned once and never kept in clear."""
    return fulfilment.issue_login(request, user, current_app.config, storage.attachments())


def write_response_letter(request: HostingRequest, user: User) -> None:
    """Write the response letter (Surat tanggapan) to the OPD and attach it."""
    fulfilment.write_response_letter(request, user, current_app.config, storage.attachments())


def write_recommendation(request: HostingRequest, user: User) -> None:
    """Write SOP 002's Rekomendasi Tim Teknis and attach it, which finishes its step."""
    fulfilment.write_recommendation(request, user, current_app.config, storage.attachments())


def change_subdomain(request: HostingRequest, user: User, subdomain: str) -> None:
    """Give a request that is back with its OPD another subdomain, validated as at filing."""
    hosting_requests.change_subdomain(request, user, subdomain,
                                      subdomains.SubdomainPolicy.from_config(current_app.config))


def withdraw(request: HostingRequest, user: User, reason: str) -> None:
    """Withdraw the OPD's open request with its reason."""
    workflow.withdraw(request, user, reason)


def reject(request: HostingRequest, user: User, reason: str) -> None:
    """Refuse the request with a reason and attach the refusal letter."""
    fulfilment.reject(request, user, reason, current_app.config, storage.attachments())


def latest_job(request: HostingRequest) -> Job | None:
    return db.session.scalar(select(Job).where(Job.target_type == "HostingRequest",
                                               Job.target_id == str(request.id))
                             .order_by(Job.id.desc()).limit(1))


def _refuse_second(kind: str, request: HostingRequest) -> None:
    if jobs.running_of((kind,), request) is not None:
        raise jobs.JobAlreadyRunning(
            _("Pekerjaan yang sama sedang berjalan untuk permohonan ini; tunggu hingga selesai."))
