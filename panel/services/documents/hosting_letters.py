"""The SOP's letters built from a request as it stands: the hosting report (steps 7–8), the
response letter to the OPD (Bolmut/Batam) and SOP 002's Rekomendasi, kept as the request's attachments."""
from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agents.protocol.artifacts import ArtifactStore
from panel import audit, formatting
from panel.extensions import db
from panel.models import Attachment, AttachmentKind, HostingRequest, User
from panel.models.accounts import DEFAULT_ROLE_LABELS, RoleKey
from panel.services.documents import letter_pdf, letters
from panel.services.documents.indonesian import LetterError
from panel.services.infra import allocation
from panel.services.releases import scanning
from panel.services.requests import sla

LETTER_MAX_BYTES = 20 * 1024 * 1024
ON_TIME = {sla.TimingState.DONE_ON_TIME: True, sla.TimingState.DONE_LATE: False}


def letterhead(config: Mapping[str, Any]) -> letter_pdf.Letterhead:
    return letter_pdf.Letterhead(pemda=config["PEMDA_NAME"], dinas=config["DINAS_NAME"],
                              address=config["DINAS_ADDRESS"], city=config["DINAS_CITY"],
                              unit=config.get("DINAS_UNIT", ""), contact=config.get("DINAS_CONTACT", ""),
                              zone=formatting.zone_name(config.get("PEMDA_TIMEZONE")))


def hosting_report(request: HostingRequest, author: User, config: Mapping[str, Any],
                   now: datetime) -> letters.HostingReport:
    """Gather the hosting report's facts from the request, its app, release, scan and timeline."""
    app = allocation.app_of(request)
    live = app.live_release if app else None
    if app is None or live is None or app.account is None:
        raise LetterError("aplikasi belum terpasang atau login Web Panel belum diterbitkan")
    report = scanning.latest_report(live.artifact_sha256)
    rows = tuple(
        letter_pdf.TimelineRow(step=row.label, role=row.role_label, actor=row.actor or "-",
                            started=row.started_at, finished=row.finished_at,
                            mutu_baku_minutes=row.timing.due_minutes, on_time=ON_TIME.get(row.timing.state))
        for row in sla.timeline(request, now))
    return letters.HostingReport(
        letterhead=letterhead(config), number=f"{request.number}/LAP", date=now,
        recipient=letter_pdf.Recipient(DEFAULT_ROLE_LABELS[RoleKey.COORDINATOR]),
        signatory=letter_pdf.Signatory(author.full_name or author.username,
                                    DEFAULT_ROLE_LABELS[RoleKey.TECHNICIAN]),
        request_number=request.number or "", opd_name=request.opd.name, app_name=request.app_name,
        subdomain=app.fqdn, host_name=app.host.name if app.host else "-",
        ip=app.ip or config.get("FRONT_IP", "-"), scan_verdict=str(report.verdict if report else "-"),
        release_number=live.number, artifact_sha256=live.artifact_sha256,
        web_panel_username=app.account.user.username, web_panel_url=config.get("PANEL_URL", ""),
        timeline=rows, copies=(f"Kepala {config['DINAS_UNIT']}",) if config.get("DINAS_UNIT") else (),
    )


def attach_hosting_report(request: HostingRequest, author: User, config: Mapping[str, Any],
                          documents: ArtifactStore, now: datetime) -> Attachment:
    """Render the hosting report letter and keep it with the request."""
    pdf = letters.render_hosting_report(hosting_report(request, author, config, now))
    return _attach(request, author, AttachmentKind.HOSTING_REPORT, f"surat-laporan-hosting-{request.id}.pdf",
                   pdf, documents)


def response_letter(request: HostingRequest, author: User, config: Mapping[str, Any],
                    now: datetime) -> letters.ResponseLetter:
    """Gather the response letter's facts: approval with the app's addresses, or the refusal's reason."""
    app = allocation.app_of(request)
    approved = app is not None and app.account is not None
    refusal = next((s.note for s in reversed(request.steps) if s.decision == "tidak" and s.note), "")
    return letters.ResponseLetter(
        letterhead=letterhead(config), number=f"{request.number}/TGP", date=now,
        recipient=letter_pdf.Recipient(f"Kepala {request.opd.name}"),
        signatory=letter_pdf.Signatory(author.full_name or author.username,
                                       DEFAULT_ROLE_LABELS[RoleKey.COORDINATOR]),
        request_number=request.number or "", opd_name=request.opd.name, app_name=request.app_name,
        subdomain=app.fqdn if app else f"{request.subdomain}.{config['PEMDA_DOMAIN']}",
        approved=approved, reason=refusal or ("" if approved else "Permohonan tidak dapat dipenuhi."),
        app_url=f"https://{app.fqdn}/" if app else "", web_panel_url=config.get("PANEL_URL", ""),
        web_panel_username=app.account.user.username if approved and app else "",
    )


def attach_response_letter(request: HostingRequest, author: User, config: Mapping[str, Any],
                           documents: ArtifactStore, now: datetime) -> Attachment:
    """Render the response letter and keep it with the request."""
    pdf = letters.render_response_letter(response_letter(request, author, config, now))
    return _attach(request, author, AttachmentKind.RESPONSE_LETTER, f"surat-tanggapan-{request.id}.pdf", pdf,
                   documents)


def recommendation_letter(request: HostingRequest, author: User, config: Mapping[str, Any],
                          now: datetime) -> letters.RecommendationLetter:
    """Gather the Rekomendasi's facts from a development request (SOP 002) and its Tim Teknis's notes."""
    findings = next((s.note for s in reversed(request.steps) if s.decision == "ya" and s.note), "")
    return letters.RecommendationLetter(
        letterhead=letterhead(config), number=recommendation_number(request), date=now,
        recipient=letter_pdf.Recipient(f"Kepala {request.opd.name}"),
        signatory=letter_pdf.Signatory(author.full_name or author.username, "Tim Teknis"),
        request_number=request.number or "", opd_name=request.opd.name, app_name=request.app_name,
        subdomain=f"{request.subdomain}.{config['PEMDA_DOMAIN']}", stack=request.stack, findings=findings,
    )


def recommendation_number(request: HostingRequest) -> str:
    """Return the Rekomendasi's number: the development request's own number with /REK."""
    return f"{request.number}/REK"


def attach_recommendation(request: HostingRequest, author: User, config: Mapping[str, Any],
                          documents: ArtifactStore, now: datetime) -> Attachment:
    """Render the Rekomendasi Tim Teknis and keep it with the development request."""
    pdf = letters.render_recommendation_letter(recommendation_letter(request, author, config, now))
    return _attach(request, author, AttachmentKind.RECOMMENDATION, f"surat-rekomendasi-{request.id}.pdf",
                   pdf, documents)


def _attach(request: HostingRequest, author: User, kind: AttachmentKind, filename: str, pdf: bytes,
            documents: ArtifactStore) -> Attachment:
    sha256, size = documents.put(io.BytesIO(pdf), LETTER_MAX_BYTES)
    letter = Attachment(kind=kind, sha256=sha256, size=size, filename=filename,
                        content_type="application/pdf", uploaded_by_id=author.id)
    request.attachments.append(letter)
    db.session.flush()
    audit.record(f"letter.{kind.value}", request, actor=author, attachment=letter.id)
    return letter
