"""How the UI writes dates, statuses, roles and decisions in Bahasa Indonesia."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flask import Flask

from panel.models import AppStatus, HostStatus, RequestStatus, RoleKey, Stack, Verdict
from panel.models.accounts import DEFAULT_ROLE_LABELS

WIB = timezone(timedelta(hours=7), "WIB")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
          "Oktober", "November", "Desember")

REQUEST_STATUS_LABELS = {
    RequestStatus.DRAFT: "Draf",
    RequestStatus.SUBMITTED: "Diajukan",
    RequestStatus.IN_PROGRESS: "Diproses",
    RequestStatus.NEEDS_CORRECTION: "Perlu perbaikan",
    RequestStatus.REJECTED: "Ditolak",
    RequestStatus.DEPLOYED: "Terpasang",
    RequestStatus.CLOSED: "Selesai",
}
APP_STATUS_LABELS = {
    AppStatus.ALLOCATED: "Dialokasikan", AppStatus.DEPLOYING: "Sedang dipasang",
    AppStatus.RUNNING: "Berjalan", AppStatus.STOPPED: "Dihentikan", AppStatus.FAILED: "Gagal",
    AppStatus.REMOVED: "Dihapus",
}
STACK_LABELS = {Stack.PHP: "PHP", Stack.STATIC: "Situs statis", Stack.DOCKERFILE: "Dockerfile"}
VERDICT_LABELS = {
    Verdict.CLEAN: "Bersih", Verdict.REVIEW: "Perlu ditinjau", Verdict.INFECTED: "Terinfeksi",
    Verdict.REJECTED: "Berkas ditolak", Verdict.ERROR: "Gagal dipindai",
}
HOST_STATUS_LABELS = {
    HostStatus.PENDING: "Menunggu pendaftaran", HostStatus.ONLINE: "Daring",
    HostStatus.UNREACHABLE: "Tidak terjangkau", HostStatus.RETIRED: "Tidak dipakai",
}
DECISION_LABELS = {
    "ya": "Setujui", "tidak": "Tolak", "perbaikan": "Minta perbaikan",
    "tersedia": "Kapasitas tersedia", "tidak_tersedia": "Kapasitas tidak tersedia",
}


def tanggal(moment: datetime | None, seconds: bool = False) -> str:
    """Format a UTC timestamp as Indonesian local time, e.g. '22 November 2026 14.05 WIB'."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they are stored in UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(WIB)
    clock = f"{local:%H.%M.%S}" if seconds else f"{local:%H.%M}"
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} {clock} WIB"


def durasi(minutes: float | None) -> str:
    """Write a duration in minutes the way people say it, e.g. '1 hari 3 jam' or '2 jam 5 menit'."""
    if minutes is None:
        return "—"
    whole = int(minutes)
    days, hours, rest = whole // 1440, whole % 1440 // 60, whole % 60
    if days:
        return f"{days} hari {hours} jam" if hours else f"{days} hari"
    if hours:
        return f"{hours} jam {rest} menit" if rest else f"{hours} jam"
    return f"{rest} menit"


def angka(value: float | None, decimals: int = 0) -> str:
    """Write a number the Indonesian way: a point between thousands, a comma before decimals."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def ukuran(size: float | None) -> str:
    """Write a size in bytes in gibibytes, e.g. '3,5 GiB'."""
    return "—" if size is None else f"{angka(size / 2**30, 1)} GiB"


def init_app(app: Flask) -> None:
    app.add_template_filter(tanggal)
    app.add_template_filter(durasi)
    app.add_template_filter(angka)
    app.add_template_filter(ukuran)

    @app.context_processor
    def _labels() -> dict[str, Any]:
        return {
            "status_labels": REQUEST_STATUS_LABELS,
            "app_status_labels": APP_STATUS_LABELS,
            "host_status_labels": HOST_STATUS_LABELS,
            "stack_labels": STACK_LABELS,
            "verdict_labels": VERDICT_LABELS,
            "role_labels": {RoleKey(k): v for k, v in DEFAULT_ROLE_LABELS.items()},
            "decision_labels": DECISION_LABELS,
        }
