"""Whether the system output a step's action promises exists: what keeps a person from finishing
such a step by hand before the system has done its part (a scan report, an allocation, a live release
with its Web Panel login, a letter)."""
from __future__ import annotations

from panel.i18n import gettext as _
from panel.models import AttachmentKind, HostingRequest, ReleaseStatus
from panel.services.infra import allocation
from panel.services.releases import scanning
from panel.services.requests.attachments import LABELS
from panel.services.requests.sop import SopStep, StepAction

# The letter a step's action makes, by action.
LETTERS = {StepAction.HOSTING_REPORT: AttachmentKind.HOSTING_REPORT,
           StepAction.RESPONSE_LETTER: AttachmentKind.RESPONSE_LETTER,
           StepAction.RECOMMENDATION_LETTER: AttachmentKind.RECOMMENDATION}


def missing(request: HostingRequest, action: StepAction, decision: str | None = None) -> str | None:
    """Return why the step with `action` cannot finish yet, or None when its output exists."""
    if action == StepAction.CAPACITY_CHECK and decision == "tersedia" or action == StepAction.PROVISION:
        try:
            allocation.choose_host()
        except allocation.NoCapacity as none:
            return str(none)
    elif action == StepAction.SCAN:
        report = scanning.latest_report(request.artifact_sha256)
        if report is None:
            return _("Berkas aplikasi belum dipindai.")
        if not report.deployable:
            return _("Hasil pindai '%(verdict)s' belum memungkinkan pemasangan.", verdict=report.verdict)
    elif action == StepAction.ALLOCATE and allocation.app_of(request) is None:
        return _("Sub-domain dan host belum dialokasikan.")
    elif action == StepAction.DEPLOY:
        app = allocation.app_of(request)
        if app is None or not any(r.status == ReleaseStatus.LIVE for r in app.releases):
            return _("Aplikasi belum terpasang.")
        if app.account is None:
            return _("Login Web Panel belum diterbitkan.")
    elif action in LETTERS and not _has(request, LETTERS[action]):
        return (_("Surat rekomendasi belum dibuat.") if action == StepAction.RECOMMENDATION_LETTER
                else _("Surat belum dibuat."))
    return None


def missing_documents(request: HostingRequest, step: SopStep) -> str | None:
    """Return which documents of the step's kelengkapan the request lacks, or None when all are there."""
    lacking = [kind for kind in step.required_documents if not _has(request, kind)]
    if not lacking:
        return None
    return _("Kelengkapan langkah ini belum ada: %(documents)s. Lampirkan dokumen tersebut terlebih dahulu.",
             documents=", ".join(str(LABELS.get(AttachmentKind(kind), kind)) for kind in lacking))


def _has(request: HostingRequest, kind: str) -> bool:
    return any(a.kind == kind for a in request.attachments)
