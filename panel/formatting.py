"""How the UI writes dates, statuses, roles and decisions in Bahasa Indonesia."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from flask import Flask

from panel.models import AppStatus, RequestStatus, RoleKey
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
DECISION_LABELS = {
    "ya": "Setujui", "tidak": "Tolak", "perbaikan": "Minta perbaikan",
    "tersedia": "Kapasitas tersedia", "tidak_tersedia": "Kapasitas tidak tersedia",
}


def tanggal(moment: datetime | None) -> str:
    """Format a UTC timestamp as Indonesian local time, e.g. '22 November 2026 14.05 WIB'."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they are stored in UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(WIB)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} {local:%H.%M} WIB"


def init_app(app: Flask) -> None:
    app.add_template_filter(tanggal)

    @app.context_processor
    def _labels() -> dict[str, Any]:
        return {
            "status_labels": REQUEST_STATUS_LABELS,
            "app_status_labels": APP_STATUS_LABELS,
            "role_labels": {RoleKey(k): v for k, v in DEFAULT_ROLE_LABELS.items()},
            "decision_labels": DECISION_LABELS,
        }
