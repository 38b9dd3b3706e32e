"""New versions of a hosted app sent through its Web Panel: stored, scanned, then deployed — or held
for a technician's written acceptance, or blocked.

Flask-free. An upload's status changes only through the transition functions below, each leaving an
audit event; the caller commits. The first version of an app is deployed by a technician through its
hosting request; these are the ones after it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select

from agents.protocol.artifacts import ArtifactStore
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import ngettext
from panel.models import App, AppUpload, Release, ScanReport, UploadStatus, User, Verdict, Zone
from panel.models.base import utcnow
from panel.services.infra.gateway import AgentGateway
from panel.services.refused import Refused
from panel.services.releases import deployment, scanning
from panel.services.requests import hosting_requests
from panel.services.requests.hosting_requests import Upload

# Uploads whose work is under way: while one is, the app takes no other new version.
IN_FLIGHT = (UploadStatus.SCANNING, UploadStatus.DEPLOYING)
FINISHED = (UploadStatus.BLOCKED, UploadStatus.DEPLOYED, UploadStatus.FAILED)
# from → the statuses it may move to
TRANSITIONS = {
    UploadStatus.SCANNING: {UploadStatus.REVIEW, UploadStatus.BLOCKED, UploadStatus.DEPLOYING,
                            UploadStatus.FAILED},
    UploadStatus.REVIEW: {UploadStatus.DEPLOYING, UploadStatus.BLOCKED},
    UploadStatus.DEPLOYING: {UploadStatus.DEPLOYED, UploadStatus.FAILED},
}
REASON_FINDINGS = 3  # findings quoted in a blocked upload's reason


class UploadRefused(Refused):
    """The upload or the step asked of it cannot be done; the message says why."""


def uploads_of(app: App, limit: int = 20) -> list[AppUpload]:
    """Return the app's newest uploads, newest first."""
    return list(db.session.scalars(select(AppUpload).where(AppUpload.app_id == app.id)
                                   .order_by(AppUpload.id.desc()).limit(limit)))


def in_flight(app: App) -> AppUpload | None:
    """Return the app's upload being scanned or deployed now, or None."""
    return db.session.scalar(select(AppUpload).where(AppUpload.app_id == app.id,
                                                     AppUpload.status.in_(IN_FLIGHT)).limit(1))


def review_queue() -> list[AppUpload]:
    """Return every upload waiting for a technician's review, oldest first."""
    return list(db.session.scalars(select(AppUpload).where(AppUpload.status == UploadStatus.REVIEW)
                                   .order_by(AppUpload.id)))


def receive(app: App, user: User, bundle: Upload, store: ArtifactStore, max_bytes: int) -> AppUpload:
    """Store a new version of `app` by its sha256 and record it as being scanned.

    A version still waiting for review is withdrawn: the newer one replaces it.
    """
    if not any(r.deployed_at for r in app.releases):
        raise UploadRefused(_("Aplikasi belum pernah terpasang: versi pertama dipasang teknisi melalui "
                              "permohonan hosting."))
    if in_flight(app) is not None:
        raise UploadRefused(_("Versi sebelumnya masih dipindai atau dipasang; tunggu hingga selesai."))
    try:
        artifact = hosting_requests.store_bundle(user, bundle, store, max_bytes)
    except hosting_requests.RequestRefused as refused:
        raise UploadRefused(str(refused)) from refused
    waiting = db.session.scalars(select(AppUpload).where(AppUpload.app_id == app.id,
                                                         AppUpload.status == UploadStatus.REVIEW)).all()
    upload = AppUpload(app_id=app.id, artifact_sha256=artifact.sha256, uploaded_by_id=user.id,
                       status=UploadStatus.SCANNING)
    db.session.add(upload)
    db.session.flush()
    for older in waiting:
        withdraw(older, _("Digantikan unggahan #%(id)d.", id=upload.id))
    audit.record("upload.receive", upload, actor=user, app=app.name, artifact=artifact.sha256,
                 size=artifact.size)
    return upload


def scan(upload: AppUpload, artifacts: ArtifactStore, documents: ArtifactStore, clamd_url: str | None,
         progress: Callable[[int, int], None] | None = None) -> ScanReport:
    """Scan the upload's bundle and move it on by the verdict: deploy, review, block or fail."""
    if upload.status != UploadStatus.SCANNING:
        raise UploadRefused(_("Unggahan ini tidak sedang menunggu pemindaian."))
    report = scanning.scan_artifact(upload.artifact, artifacts, documents, clamd_url, progress)
    upload.scan_report_id = report.id
    if report.verdict == Verdict.CLEAN:
        _move(upload, UploadStatus.DEPLOYING)
    elif report.verdict == Verdict.REVIEW:
        _move(upload, UploadStatus.REVIEW)
    elif report.verdict == Verdict.ERROR:
        why = (report.report or {}).get("reason")
        fail(upload, _("Pemindaian tidak tuntas: %(reason)s. Unggah ulang versi ini.", reason=why) if why
             else _("Pemindaian tidak tuntas. Unggah ulang versi ini."))
    else:
        block(upload, blocked_reason(report))
    return report


def blocked_reason(report: ScanReport) -> str:
    """Say why a verdict blocks a release: the scanner's reason, or its first blocking findings."""
    data = report.report or {}
    if data.get("reason"):
        return _("Berkas ditolak: %(reason)s", reason=data["reason"])
    blocking = [f for f in data.get("findings", [])
                if f.get("verdict") in (Verdict.INFECTED, Verdict.REJECTED)]
    quoted = "; ".join(f"{f.get('path')}: {f.get('message')}" for f in blocking[:REASON_FINDINGS])
    if not quoted:
        return _("Hasil pindai '%(verdict)s': lihat laporan pemindaian.", verdict=report.verdict)
    if len(blocking) > REASON_FINDINGS:
        return ngettext("Hasil pindai '%(verdict)s': %(findings)s (dan %(num)d temuan lain).",
                        "Hasil pindai '%(verdict)s': %(findings)s (dan %(num)d temuan lain).",
                        len(blocking) - REASON_FINDINGS, verdict=report.verdict, findings=quoted)
    return _("Hasil pindai '%(verdict)s': %(findings)s.", verdict=report.verdict, findings=quoted)


def accept(upload: AppUpload, user: User, reason: str) -> None:
    """Accept the upload's `review` verdict with a technician's written reason; it is deployed next."""
    if upload.status != UploadStatus.REVIEW or upload.scan_report is None:
        raise UploadRefused(_("Unggahan ini tidak sedang menunggu tinjauan."))
    if in_flight(upload.app) is not None:
        raise UploadRefused(_("Versi lain aplikasi ini sedang dipasang; terima setelah selesai."))
    try:
        scanning.accept_review(upload.scan_report, user, reason)
    except scanning.ScanRefused as refused:
        raise UploadRefused(str(refused)) from refused
    _move(upload, UploadStatus.DEPLOYING, actor=user)


def deploy(upload: AppUpload, gateway: AgentGateway, zone: Zone, env: Mapping[str, str],
           build_scanning: deployment.BuildScanning | None = None) -> deployment.Deployed:
    """Deploy the accepted upload as the app's next release, with the app's environment.

    Raises deployment.DeployFailed; a release made before the failure stays in the session.
    """
    if upload.status != UploadStatus.DEPLOYING or upload.scan_report is None:
        raise UploadRefused(_("Unggahan ini belum siap dipasang."))
    return deployment.deploy(upload.app, upload.scan_report, upload.uploaded_by, gateway, zone,
                             env=env, build_scanning=build_scanning)


def deployed(upload: AppUpload, release: Release) -> None:
    upload.release_id = release.id
    _move(upload, UploadStatus.DEPLOYED, number=release.number)


def fail(upload: AppUpload, reason: str, release: Release | None = None) -> None:
    upload.reason = reason
    if release is not None:
        upload.release_id = release.id
    _move(upload, UploadStatus.FAILED, reason=reason)


def block(upload: AppUpload, reason: str) -> None:
    upload.reason = reason
    _move(upload, UploadStatus.BLOCKED, reason=reason)


def withdraw(upload: AppUpload, reason: str) -> None:
    """Withdraw an upload still waiting for review (a newer one replaces it)."""
    upload.reason = reason
    _move(upload, UploadStatus.BLOCKED, reason=reason)


def _move(upload: AppUpload, to: UploadStatus, actor: User | None = None, **details: object) -> None:
    if to not in TRANSITIONS.get(UploadStatus(upload.status), set()):
        raise UploadRefused(_("Unggahan berstatus %(status)s tidak dapat menjadi %(target)s.",
                              status=upload.status, target=to))
    before, upload.status = upload.status, to
    if to in FINISHED:
        upload.finished_at = utcnow()
    audit.record(f"upload.{to}", upload, actor=actor, app=upload.app.name, previous=str(before),
                 **details)
