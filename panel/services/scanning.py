"""Step 4 of the SOP: the security verdict on an app bundle, and a technician's acceptance of a review."""
from __future__ import annotations

import io
from collections.abc import Callable

from sqlalchemy import select

from agents.artifacts import ArtifactStore
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Artifact, Attachment, AttachmentKind, HostingRequest, ScanReport, User, Verdict
from panel.models.base import utcnow
from scanners.scan import scan_path

MIN_REASON_LENGTH = 20  # an acceptance is a written judgement, not "ok"
HTML_REPORT_MAX_BYTES = 50 * 1024 * 1024


class ScanRefused(ValueError):
    """The scan or the acceptance cannot be done; the message says why."""


def latest_report(sha256: str | None) -> ScanReport | None:
    if sha256 is None:
        return None
    return db.session.scalar(select(ScanReport).where(ScanReport.artifact_sha256 == sha256)
                             .order_by(ScanReport.id.desc()).limit(1))


def scan_artifact(artifact: Artifact, artifacts: ArtifactStore, documents: ArtifactStore,
                  clamd_url: str | None, progress: Callable[[int, int], None] | None = None) -> ScanReport:
    """Scan the stored bundle with every engine and record the verdict; clamd down gives `error`.

    The readable HTML report is kept in `documents` beside the JSON one in the database.
    """
    record = ScanReport(artifact_sha256=artifact.sha256, started_at=utcnow())
    db.session.add(record)
    result = scan_path(artifacts.path(artifact.sha256), clamd_url=clamd_url, progress=progress)
    record.verdict = Verdict(result.verdict.value)
    record.report = result.to_dict()
    record.html_sha256, _size = documents.put(io.BytesIO(result.to_html().encode()), HTML_REPORT_MAX_BYTES)
    record.finished_at = utcnow()
    db.session.flush()
    audit.record("scan.finish", artifact, verdict=record.verdict, report_id=record.id)
    return record


def attach_report(request: HostingRequest, record: ScanReport, documents: ArtifactStore,
                  user: User | None) -> Attachment:
    """Attach the scan's HTML report to the request, as the step's output."""
    assert record.html_sha256 is not None, "the scan has not finished"
    document = Attachment(kind=AttachmentKind.SCAN_REPORT, filename=f"laporan-pemindaian-{record.id}.html",
                          sha256=record.html_sha256, size=documents.path(record.html_sha256).stat().st_size,
                          content_type="text/html", uploaded_by_id=user.id if user else None)
    request.attachments.append(document)
    return document


def accept_review(record: ScanReport, user: User, reason: str) -> None:
    """Accept a `review` verdict with a written reason; `infected` and the rest are never overridable."""
    if record.verdict != Verdict.REVIEW:
        raise ScanRefused(
            _("Hanya hasil 'perlu ditinjau' yang dapat diterima; hasil lain tidak dapat ditimpa."))
    if record.accepted_by_id is not None:
        raise ScanRefused(_("Hasil ini sudah diterima."))
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ScanRefused(_("Tuliskan alasan penerimaan (minimal %(count)d karakter).",
                            count=MIN_REASON_LENGTH))
    record.accepted_by_id, record.accepted_reason, record.accepted_at = user.id, reason.strip(), utcnow()
    audit.record("scan.accept_review", record, artifact=record.artifact_sha256, reason=reason.strip())
