"""How the UI writes dates, numbers, statuses, roles and decisions in the reader's language.

Every time the panel shows (pages, reports, exports, the audit log, letters) is local time in the
Pemda's zone, `PEMDA_TIMEZONE`, converted here; stored times stay UTC.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

from babel.dates import get_month_names
from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import Flask, current_app, has_app_context

from panel import i18n
from panel.i18n import lazy_gettext as _l
from panel.i18n import ngettext
from panel.models import AppStatus, HostStatus, RequestStatus, RoleKey, Stack, Verdict
from panel.services.requests.sop import StepAction

# Indonesia's three legal time zones, none with daylight saving: name → (IANA name, hours east of UTC).
TIME_ZONES = {"WIB": ("Asia/Jakarta", 7), "WITA": ("Asia/Makassar", 8), "WIT": ("Asia/Jayapura", 9)}
DEFAULT_ZONE = "WIB"
WIB = timezone(timedelta(hours=7), "WIB")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
          "Oktober", "November", "Desember")

REQUEST_STATUS_LABELS = {
    RequestStatus.DRAFT: _l("Draf"),
    RequestStatus.SUBMITTED: _l("Diajukan"),
    RequestStatus.IN_PROGRESS: _l("Diproses"),
    RequestStatus.NEEDS_CORRECTION: _l("Perlu perbaikan"),
    RequestStatus.REJECTED: _l("Ditolak"),
    RequestStatus.DEPLOYED: _l("Terpasang"),
    RequestStatus.CLOSED: _l("Selesai"),
    RequestStatus.WITHDRAWN: _l("Ditarik"),
}
APP_STATUS_LABELS = {
    AppStatus.ALLOCATED: _l("Dialokasikan"), AppStatus.DEPLOYING: _l("Sedang dipasang"),
    AppStatus.RUNNING: _l("Berjalan"), AppStatus.STOPPED: _l("Dihentikan"), AppStatus.FAILED: _l("Gagal"),
    AppStatus.REMOVED: _l("Dihapus"), AppStatus.EXTERNAL: _l("Eksternal (di luar Wadah)"),
}
STACK_LABELS = {Stack.PHP: "PHP", Stack.STATIC: _l("Situs statis"), Stack.DOCKERFILE: "Dockerfile"}
VERDICT_LABELS = {
    Verdict.CLEAN: _l("Bersih"), Verdict.REVIEW: _l("Perlu ditinjau"), Verdict.INFECTED: _l("Terinfeksi"),
    Verdict.REJECTED: _l("Berkas ditolak"), Verdict.ERROR: _l("Gagal dipindai"),
}
HOST_STATUS_LABELS = {
    HostStatus.PENDING: _l("Menunggu pendaftaran"), HostStatus.ONLINE: _l("Daring"),
    HostStatus.UNREACHABLE: _l("Tidak terjangkau"), HostStatus.RETIRED: _l("Tidak dipakai"),
}
DECISION_LABELS = {
    "ya": _l("Setujui"), "tidak": _l("Tolak"), "perbaikan": _l("Minta perbaikan"),
    "tersedia": _l("Kapasitas tersedia"), "tidak_tersedia": _l("Kapasitas tidak tersedia"),
    "ditarik": _l("Ditarik OPD"), "pindai_ulang": _l("Pindai ulang"),
}
# The positions' titles as the UI shows them; letters print the official Indonesian titles
# (panel.models.accounts.DEFAULT_ROLE_LABELS).
ROLE_LABELS = {
    RoleKey.OPD_ADMIN: _l("Pengelola Aplikasi OPD"),
    RoleKey.APP_ACCOUNT: _l("Akun Web Panel Aplikasi"),
    RoleKey.TECHNICIAN: _l("Pengelola Instalasi Teknologi Informasi"),
    RoleKey.COORDINATOR: _l("Sub Koordinator Pengembangan dan Pengelolaan Aplikasi"),
    RoleKey.HEAD: _l("Kepala Bidang / Kepala Dinas"),
    RoleKey.AUDITOR: _l("Auditor"),
    RoleKey.SUPERADMIN: _l("Administrator Platform"),
}


def zone_name(setting: str | None = None) -> str:
    """Return "WIB", "WITA" or "WIT" for a `PEMDA_TIMEZONE` value (short or IANA name), or this app's."""
    if setting is None:
        setting = current_app.config.get("PEMDA_TIMEZONE") if has_app_context() else None
    setting = (setting or DEFAULT_ZONE).strip()
    for name, (iana, _hours) in TIME_ZONES.items():
        if setting.upper() == name or setting == iana:
            return name
    raise ValueError(f"PEMDA_TIMEZONE {setting!r} is not WIB, WITA or WIT (Asia/Jakarta, Asia/Makassar, "
                     "Asia/Jayapura)")


@cache
def local_zone(name: str) -> timezone:
    """Return the fixed-offset zone called `name` (WIB, WITA or WIT, or its IANA name)."""
    name = zone_name(name)
    return timezone(timedelta(hours=TIME_ZONES[name][1]), name)


def local_time(moment: datetime) -> datetime:
    """Return a stored time (UTC, naive from SQLite) as an aware time in the Pemda's zone."""
    if moment.tzinfo is None:  # SQLite returns naive datetimes; they are stored in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(pemda_zone())


def pemda_zone() -> timezone:
    """Return this app's zone (`PEMDA_TIMEZONE`)."""
    return local_zone(zone_name())


def tanggal(moment: datetime | None, seconds: bool = False) -> str:
    """Format a UTC timestamp as the Pemda's local time, e.g. '22 November 2026 14.05 WIB'."""
    if moment is None:
        return "—"
    local, language = local_time(moment), i18n.language()
    separator = "." if language == "id" else ":"  # Indonesian writes 14.05, English 14:05
    clock = f"{local:%H}{separator}{local:%M}" + (f"{separator}{local:%S}" if seconds else "")
    return f"{local.day} {_month_names(language)[local.month]} {local.year} {clock} {local.tzname()}"


def jam(moment: datetime) -> str:
    """Write a short local day and time for a chart's axis, e.g. '02/03 14.05'."""
    return f"{local_time(moment):%d/%m %H.%M}"


def durasi(minutes: float | None) -> str:
    """Write a duration in minutes the way people say it, e.g. '1 hari 3 jam' or '2 jam 5 menit'."""
    if minutes is None:
        return "—"
    whole = int(minutes)
    days, hours, rest = whole // 1440, whole % 1440 // 60, whole % 60
    if days:  # the two largest units are enough: '1 hari 3 jam', never '1 hari 3 jam 2 menit'
        day_text = ngettext("%(num)d hari", "%(num)d hari", days)
        return f"{day_text} {ngettext('%(num)d jam', '%(num)d jam', hours)}" if hours else day_text
    if hours:
        hour_text = ngettext("%(num)d jam", "%(num)d jam", hours)
        return f"{hour_text} {ngettext('%(num)d menit', '%(num)d menit', rest)}" if rest else hour_text
    return ngettext("%(num)d menit", "%(num)d menit", rest)


def angka(value: float | None, decimals: int = 0) -> str:
    """Write a number in the reader's convention: Indonesian '1.234,5', English '1,234.5'."""
    if value is None:
        return "—"
    group, decimal = _number_symbols(i18n.language())
    return f"{value:,.{decimals}f}".translate({ord(","): group, ord("."): decimal})


# A page writes hundreds of dates and numbers: the locale's names and symbols are read once.
@cache
def _month_names(language: str) -> dict[int, str]:
    return dict(get_month_names("wide", locale=language))


@cache
def _number_symbols(language: str) -> tuple[str, str]:
    return get_group_symbol(language), get_decimal_symbol(language)


def ukuran(size: float | None) -> str:
    """Write a size in bytes in gibibytes, e.g. '3,5 GiB'."""
    return "—" if size is None else f"{angka(size / 2**30, 1)} GiB"


def init_app(app: Flask) -> None:
    zone_name(app.config.get("PEMDA_TIMEZONE"))  # a mistyped zone stops the start, not the first page
    app.add_template_filter(tanggal)
    app.add_template_filter(durasi)
    app.add_template_filter(angka)
    app.add_template_filter(ukuran)

    @app.context_processor
    def _labels() -> dict[str, Any]:
        return {
            "StepAction": StepAction,
            "status_labels": REQUEST_STATUS_LABELS,
            "app_status_labels": APP_STATUS_LABELS,
            "host_status_labels": HOST_STATUS_LABELS,
            "stack_labels": STACK_LABELS,
            "verdict_labels": VERDICT_LABELS,
            "role_labels": ROLE_LABELS,
            "decision_labels": DECISION_LABELS,
            "zone_label": zone_name(),
        }
