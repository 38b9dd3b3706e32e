"""Whether the system output a step's action promises exists: what keeps a person from finishing
such a step by hand before the system has done its part (a scan report, an allocation, a live release
with its Web Panel login, a letter)."""
from __future__ import annotations

from panel.i18n import gettext as _
from panel.models import AttachmentKind, HostingRequest, ReleaseStatus
from panel.services.infra import allocation
from panel.services.releases import scanning
from panel.services.requests.sop import StepAction


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
    elif action in (StepAction.HOSTING_REPORT, StepAction.RESPONSE_LETTER):
        kind = (AttachmentKind.HOSTING_REPORT if action == StepAction.HOSTING_REPORT
                else AttachmentKind.RESPONSE_LETTER)
        if not any(a.kind == kind for a in request.attachments):
            return _("Surat belum dibuat.")
    return None
