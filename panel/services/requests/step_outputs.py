"""Whether the system output a step's action promises exists: what keeps a person from finishing
such a step by hand before the system has done its part (a scan report, an allocation, a live release
with its Web Panel login, a letter)."""
from __future__ import annotations

from panel.i18n import gettext as _
from panel.models import AttachmentKind, HostingRequest, ReleaseStatus
from panel.services.infra import allocation
from panel.services.releases import scanning


def missing(request: HostingRequest, action: str, decision: str | None = None) -> str | None:
    """Return why the step with `action` cannot finish yet, or None when its output exists."""
    if action == "capacity_check" and decision == "tersedia" or action == "provision":
        try:
            allocation.choose_host()
        except allocation.NoCapacity as none:
            return str(none)
    elif action == "scan":
        report = scanning.latest_report(request.artifact_sha256)
        if report is None:
            return _("Berkas aplikasi belum dipindai.")
        if not report.deployable:
            return _("Hasil pindai '%(verdict)s' belum memungkinkan pemasangan.", verdict=report.verdict)
    elif action == "allocate" and allocation.app_of(request) is None:
        return _("Sub-domain dan host belum dialokasikan.")
    elif action == "deploy":
        app = allocation.app_of(request)
        if app is None or not any(r.status == ReleaseStatus.LIVE for r in app.releases):
            return _("Aplikasi belum terpasang.")
        if app.account is None:
            return _("Login Web Panel belum diterbitkan.")
    elif action in ("hosting_report", "response_letter"):
        kind = AttachmentKind.HOSTING_REPORT if action == "hosting_report" else AttachmentKind.RESPONSE_LETTER
        if not any(a.kind == kind for a in request.attachments):
            return _("Surat belum dibuat.")
    return None
