"""The system actions behind the SOP's steps: scan, allocate, deploy, issue the Web Panel login.

Each one checks that the request stands at a step with that action, does the work, and finishes the
step when its output exists (`step_outputs` says whether it does).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from agents.protocol.artifacts import ArtifactStore
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import (
    App,
    AppAccount,
    Artifact,
    HostingRequest,
    ReleaseStatus,
    RequestStatus,
    ScanReport,
    User,
    Verdict,
    Zone,
)
from panel.models.base import utcnow
from panel.services.documents import hosting_letters
from panel.services.infra import allocation, subdomains
from panel.services.infra.gateway import AgentGateway
from panel.services.refused import Refused
from panel.services.releases import deployment, scanning
from panel.services.requests import step_outputs, workflow
from panel.services.requests.sop import StepAction


class ActionRefused(Refused):
    """The action does not apply to the request as it stands; the message says why."""


def expect_action(request: HostingRequest, action: StepAction) -> None:
    """Raise ActionRefused unless the request's open step has `action`."""
    try:
        step = workflow.current_step(request)
    except workflow.WorkflowError as closed:
        raise ActionRefused(str(closed)) from closed
    if workflow.template_of(request).step(step.step_key).action != action:
        raise ActionRefused(_("Tindakan ini tidak sesuai dengan langkah permohonan saat ini."))


def finish_if_done(request: HostingRequest, user: User, note: str) -> bool:
    """Finish the open step as `user` when its system output exists; return whether it did."""
    step = workflow.current_step(request)
    if step_outputs.missing(request, workflow.template_of(request).step(step.step_key).action):
        return False
    workflow.act(request, user, note=note)
    return True


def bundle_of(request: HostingRequest) -> Artifact:
    artifact = db.session.get(Artifact, request.artifact_sha256) if request.artifact_sha256 else None
    if artifact is None:
        raise ActionRefused(_("Permohonan belum memiliki berkas aplikasi."))
    return artifact


def pemda_zone(name: str) -> Zone:
    zone = db.session.scalar(select(Zone).where(Zone.name == name))
    if zone is None:
        raise ActionRefused(_("Zona DNS %(zone)s belum didaftarkan (menu Admin → Zona).", zone=name))
    return zone


def capacity(request: HostingRequest) -> str:
    """Describe the data center's capacity for the SOP's capacity check, as the coordinator sees it."""
    try:
        host = allocation.choose_host()
    except allocation.NoCapacity as none:
        return str(none)
    free = host.facts.get("memory_available_bytes", 0) // (1024 * 1024)
    return _("Tersedia: host %(host)s dengan %(free)d MiB memori bebas.", host=host.name, free=free)


def write_response_letter(request: HostingRequest, user: User, config: Mapping[str, Any],
                          documents: ArtifactStore) -> None:
    """Make the response letter to the OPD (Bolmut/Batam) and keep it with the request."""
    expect_action(request, StepAction.RESPONSE_LETTER)
    hosting_letters.attach_response_letter(request, user, config, documents, utcnow())


def write_recommendation(request: HostingRequest, user: User, config: Mapping[str, Any],
                         documents: ArtifactStore) -> None:
    """Make SOP 002's Rekomendasi Tim Teknis, keep it with the request and finish its step."""
    expect_action(request, StepAction.RECOMMENDATION_LETTER)
    if not step_outputs.missing(request, StepAction.RECOMMENDATION_LETTER):
        raise ActionRefused(_("Surat rekomendasi sudah dibuat."))
    letter = hosting_letters.attach_recommendation(request, user, config, documents, utcnow())
    finish_if_done(request, user, f"Surat rekomendasi {letter.filename} diterbitkan.")


def scan(request: HostingRequest, user: User, artifacts: ArtifactStore, documents: ArtifactStore,
         clamd_url: str | None, progress: Callable[[int, int], None] | None = None) -> ScanReport:
    """Scan the request's bundle (step 4); a clean verdict finishes the step at once."""
    expect_action(request, StepAction.SCAN)
    report = scanning.scan_artifact(bundle_of(request), artifacts, documents, clamd_url, progress)
    scanning.attach_report(request, report, documents, user)
    if report.verdict == Verdict.CLEAN:
        finish_if_done(request, user, "Hasil pemindaian: bersih.")
    return report


def accept_review(request: HostingRequest, user: User, reason: str) -> None:
    """Accept the bundle's `review` verdict with a written reason, then finish step 4."""
    expect_action(request, StepAction.SCAN)
    report = scanning.latest_report(request.artifact_sha256)
    if report is None:
        raise ActionRefused(_("Berkas aplikasi belum dipindai."))
    scanning.accept_review(report, user, reason)
    finish_if_done(request, user, f"Hasil 'perlu ditinjau' diterima: {reason.strip()}")


def replace_bundle(request: HostingRequest, user: User, artifact: Artifact) -> None:
    """Give the request a new bundle (after an `infected` verdict, or a fix) before it is deployed."""
    app = allocation.app_of(request)
    if app is not None and any(r.status == ReleaseStatus.LIVE for r in app.releases):
        raise ActionRefused(_("Aplikasi sudah terpasang: unggah versi baru melalui Web Panel aplikasi."))
    try:
        workflow.current_step(request)
    except workflow.WorkflowError as closed:
        raise ActionRefused(str(closed)) from closed
    request.artifact_sha256 = artifact.sha256
    audit.record("request.bundle", request, actor=user, artifact=artifact.sha256)
    # What runs is what was scanned: a bundle changed after the scan sends the request back to it.
    workflow.reopen_scan(request, user)


def reject(request: HostingRequest, user: User, reason: str, config: Mapping[str, Any],
           documents: ArtifactStore) -> None:
    """Refuse the request with a written reason and attach the refusal letter to the OPD."""
    workflow.reject(request, user, reason)
    hosting_letters.attach_response_letter(request, user, config, documents, utcnow())


def expect_not_with_opd(request: HostingRequest) -> None:
    """Raise ActionRefused while the request waits on its OPD to choose another subdomain."""
    if request.status == RequestStatus.NEEDS_CORRECTION:
        raise ActionRefused(_("Permohonan menunggu OPD memilih sub-domain lain."))


def allocate(request: HostingRequest, user: User, zone: Zone, policy: subdomains.SubdomainPolicy) -> App:
    """Reserve the subdomain and a host (step 5), then finish the step."""
    expect_action(request, StepAction.ALLOCATE)
    expect_not_with_opd(request)
    app = allocation.allocate(request, user, zone, policy)
    finish_if_done(request, user, f"Dialokasikan: {app.fqdn} di host {app.host.name if app.host else '-'}.")
    return app


def deploy(
    request: HostingRequest, user: User, gateway: AgentGateway, zone: Zone,
    build_scanning: deployment.BuildScanning | None = None,
) -> deployment.Deployed:
    """Deploy the scanned bundle (step 6); the step finishes once the Web Panel login is issued too.

    A Dockerfile app's build is scanned on the way; its report joins the request's attachments,
    whether it let the release run or not.
    """
    expect_action(request, StepAction.DEPLOY)
    app = allocation.app_of(request)
    report = scanning.latest_report(request.artifact_sha256)
    if app is None or report is None:
        raise ActionRefused(_("Permohonan belum dipindai atau belum dialokasikan."))
    before = deployment.latest_release_number(app)
    try:
        return deployment.deploy(app, report, user, gateway, zone, build_scanning=build_scanning)
    finally:
        made = next((r for r in reversed(app.releases) if r.number > before), None)
        if made is not None and made.build_scan_report is not None and build_scanning is not None:
            scanning.attach_report(request, made.build_scan_report, build_scanning.documents, user)


def issue_login(request: HostingRequest, user: User, config: Mapping[str, Any],
                documents: ArtifactStore) -> tuple[AppAccount, str]:
    """Issue the app's Web Panel login (step 6's output) and finish the step; return the password once.

    When the SOP's next step is the hosting report, the technician's report letter is made with it.
    """
    expect_action(request, StepAction.DEPLOY)
    app = allocation.app_of(request)
    if app is None or not any(r.status == ReleaseStatus.LIVE for r in app.releases):
        raise ActionRefused(_("Aplikasi belum terpasang."))
    account, password = deployment.issue_web_panel_login(app, user, config["PASSWORD_MIN_LENGTH"])
    db.session.flush()
    finish_if_done(request, user, f"Login Web Panel diterbitkan untuk {account.user.username}.")
    next_step = request.current_step
    if next_step and workflow.template_of(request).step(next_step).action == StepAction.HOSTING_REPORT:
        hosting_letters.attach_hosting_report(request, user, config, documents, utcnow())
    return account, password
