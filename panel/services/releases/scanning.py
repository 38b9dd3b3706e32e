"""Step 4 of the SOP: the security verdict on an app bundle, and a technician's acceptance of a review."""
from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select

from agents.protocol.artifacts import ArtifactStore
from panel import audit, private_files
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import (
    Artifact,
    Attachment,
    AttachmentKind,
    HostingRequest,
    Release,
    ScanKind,
    ScanReport,
    User,
    Verdict,
)
from panel.models.base import utcnow
from panel.services.refused import Refused
from scanners.scan import scan_path
from scanners.verdict_cache import DATABASE_NAME

MIN_REASON_LENGTH = 20  # an acceptance is a written judgement, not "ok"
HTML_REPORT_MAX_BYTES = 50 * 1024 * 1024


class ScanRefused(Refused):
    """The scan or the acceptance cannot be done; the message says why."""


REASON_FINDINGS = 5  # files named in a blocked build's message
VERDICT_CACHE_DIR = "scan-cache"  # beside the store, in the panel's owner-only state folder


def verdict_cache_dir(store: ArtifactStore) -> Path:
    """Return the verdict cache's directory beside `store`, owner-only, its database 0600."""
    directory = private_files.private_dir(store.root.parent / VERDICT_CACHE_DIR)
    private_files.private_sqlite(directory / DATABASE_NAME)
    return directory


def latest_report(sha256: str | None) -> ScanReport | None:
    """Return the newest scan of the bundle `sha256` itself (not of what a build made of it)."""
    if sha256 is None:
        return None
    return db.session.scalar(select(ScanReport).where(ScanReport.artifact_sha256 == sha256,
                                                      ScanReport.kind == ScanKind.BUNDLE)
                             .order_by(ScanReport.id.desc()).limit(1))


def scan_artifact(artifact: Artifact, artifacts: ArtifactStore, documents: ArtifactStore,
                  clamd_url: str | None, progress: Callable[[int, int], None] | None = None) -> ScanReport:
    """Scan the stored bundle with every engine and record the verdict; clamd down gives `error`.

    The readable HTML report is kept in `documents` beside the JSON one in the database; files the
    verdict cache remembers for the same scanner are not scanned again.
    """
    record = ScanReport(artifact_sha256=artifact.sha256, started_at=utcnow())
    db.session.add(record)
    # A new version of an app rescans only the files that changed since a scan by the same
    # engines, rules, signatures and policy.
    result = scan_path(artifacts.path(artifact.sha256), clamd_url=clamd_url, progress=progress,
                       cache_dir=verdict_cache_dir(artifacts))
    record.verdict = Verdict(result.verdict.value)
    record.report = result.to_dict()
    record.html_sha256, _size = documents.put(io.BytesIO(result.to_html().encode()), HTML_REPORT_MAX_BYTES)
    record.finished_at = utcnow()
    db.session.flush()
    audit.record("scan.finish", artifact, verdict=record.verdict, report_id=record.id)
    return record


def abandon_unfinished(sha256: str | None, reason: str) -> None:
    """End the bundle's scans that stopped half-way (their worker died) with the verdict `error`."""
    for record in db.session.scalars(select(ScanReport).where(
            ScanReport.artifact_sha256 == sha256, ScanReport.finished_at.is_(None))):
        record.verdict, record.finished_at = Verdict.ERROR, utcnow()
        record.report = {"verdict": Verdict.ERROR.value, "reason": reason, "findings": []}


def scan_build_output(release: Release, output: Path, build: Mapping[str, Any],
                      documents: ArtifactStore, clamd_url: str | None) -> ScanReport:
    """Scan the files a release's build added to its runtime image, with the bundle's engines and
    policy, and record the verdict as the release's build scan.

    `build` is what the agent answered: the image, and which files it left out as byte-identical
    to the bundle's (scanned with it) or found deleted; the report keeps it.
    """
    record = ScanReport(artifact_sha256=release.artifact_sha256, kind=ScanKind.BUILD,
                        started_at=utcnow())
    db.session.add(record)
    result = scan_path(output, clamd_url=clamd_url, cache_dir=verdict_cache_dir(documents))
    result.source = f"build rilis ke-{release.number} {release.app.name} ({build.get('image_id')})"
    record.verdict = Verdict(result.verdict.value)
    record.report = {**result.to_dict(), "build": dict(build)}
    record.html_sha256, _size = documents.put(io.BytesIO(result.to_html().encode()), HTML_REPORT_MAX_BYTES)
    record.finished_at = utcnow()
    db.session.flush()
    release.build_scan_report_id = record.id
    audit.record("scan.build", release, verdict=record.verdict, report_id=record.id,
                 image=build.get("image_id"))
    return record


def build_blocked_reason(report: ScanReport) -> str:
    """Say why what a build made keeps its release from running, naming the files and rules."""
    data = report.report or {}
    if report.verdict == Verdict.ERROR:
        return _("Pemindaian berkas hasil build tidak tuntas: %(reason)s. Pasang ulang untuk "
                 "memindai lagi.", reason=data.get("reason") or "-")
    if data.get("reason"):
        return _("Berkas yang dibuat Dockerfile ditolak pemindai: %(reason)s. Dockerfile tidak "
                 "boleh membuat tautan atau berkas khusus.", reason=data["reason"])
    blocking = [f for f in data.get("findings", []) if f.get("verdict") != Verdict.CLEAN]
    named: dict[str, list[str]] = {}
    for finding in blocking:
        named.setdefault(str(finding.get("path")), []).append(
            f"{finding.get('engine')}/{finding.get('rule')}")
    quoted = "; ".join(f"{path} ({', '.join(dict.fromkeys(rules))})"
                       for path, rules in list(named.items())[:REASON_FINDINGS])
    if len(named) > REASON_FINDINGS:
        quoted += " …"
    if report.verdict == Verdict.REVIEW:
        return _("Berkas yang dibuat Dockerfile saat build perlu ditinjau: %(findings)s. Build tidak "
                 "boleh membuat kode: masukkan kode ke dalam bundel agar dipindai dan ditinjau di sana.",
                 findings=quoted)
    return _("Berkas yang dibuat Dockerfile saat build diblokir (%(verdict)s): %(findings)s. Build "
             "tidak boleh membuat kode.", verdict=report.verdict, findings=quoted)


def attach_report(request: HostingRequest, record: ScanReport, documents: ArtifactStore,
                  user: User | None) -> Attachment:
    """Attach the scan's HTML report to the request, as the step's output."""
    assert record.html_sha256 is not None, "the scan has not finished"
    prefix = "laporan-pemindaian-build" if record.kind == ScanKind.BUILD else "laporan-pemindaian"
    document = Attachment(kind=AttachmentKind.SCAN_REPORT, filename=f"{prefix}-{record.id}.html",
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
