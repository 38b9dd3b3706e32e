"""The monthly report's charts, as accessible SVG in the reader's language (the page and the PDF)."""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from panel import charts
from panel.formatting import angka
from panel.i18n import gettext as _
from panel.i18n import ngettext
from panel.services.reports.figures import TREND_MONTHS, Count, HostCapacity, MonthlyReport

CHART_BARS = 15  # a chart shows this many categories and folds the rest into "Lainnya"; tables show all


@dataclass(frozen=True)
class ReportCharts:
    """The report's charts as SVG; None where there is nothing to draw."""

    apps_by_opd: Markup | None
    apps_by_stack: Markup | None
    apps_by_host: Markup | None
    requests: Markup | None
    steps: Markup | None
    trend: Markup | None
    scans: Markup | None
    capacity: Markup | None


def charts_for(report: MonthlyReport) -> ReportCharts:
    """Draw the report's charts in the reader's language; the page and the PDF show the same ones."""
    month = report.month.label
    return ReportCharts(
        apps_by_opd=_count_chart("grafik-aplikasi-opd", _("Aplikasi per OPD, akhir %(month)s", month=month),
                                 report.apps.by_opd, _("Jumlah aplikasi")),
        apps_by_stack=_count_chart("grafik-aplikasi-jenis",
                                   _("Aplikasi per jenis, akhir %(month)s", month=month),
                                   report.apps.by_stack, _("Jumlah aplikasi")),
        apps_by_host=_count_chart("grafik-aplikasi-server",
                                  _("Aplikasi per server, akhir %(month)s", month=month),
                                  report.apps.by_host, _("Jumlah aplikasi")),
        requests=_count_chart("grafik-permohonan",
                              _("Permohonan yang diajukan pada %(month)s menurut status", month=month),
                              report.requests, _("Jumlah permohonan")),
        steps=_steps_chart(report),
        trend=_trend_chart(report),
        scans=_count_chart("grafik-pemindaian", _("Hasil pemindaian berkas pada %(month)s", month=month),
                           report.scans.by_verdict, _("Jumlah pemindaian")),
        capacity=_capacity_chart(report.hosts),
    )


def _count_chart(ident: str, title: str, items: list[Count], what: str) -> Markup | None:
    if not items:
        return None
    shown = _fold(items)
    description = "; ".join(f"{item.label}: {angka(item.count)}" for item in shown)
    return charts.bar_chart(ident, title, f"{what}. {description}.", [item.label for item in shown],
                            [charts.Series(what, [item.count for item in shown])])


def _steps_chart(report: MonthlyReport) -> Markup | None:
    steps = [step for step in report.steps if step.finished]
    if not steps:
        return None
    description = "; ".join(f"{step.label}: {_percent_text(step.percent)}" for step in steps)
    return charts.bar_chart(
        "grafik-mutu-baku-langkah",
        _("Langkah selesai tepat waktu per langkah SOP, %(month)s", month=report.month.label),
        _("Persentase langkah yang selesai dalam Mutu Baku waktu. %(figures)s.", figures=description),
        [step.label for step in steps], [charts.Series(_("Tepat waktu"), [step.percent for step in steps])],
        unit="%", maximum=100, decimals=1)


def _trend_chart(report: MonthlyReport) -> Markup | None:
    if not any(point.finished for point in report.trend):
        return None
    description = "; ".join(f"{point.month.label}: {_percent_text(point.percent)}" for point in report.trend)
    return charts.line_chart(
        "grafik-mutu-baku-bulanan",
        ngettext("Kepatuhan Mutu Baku, %(num)d bulan sampai %(month)s",
                 "Kepatuhan Mutu Baku, %(num)d bulan sampai %(month)s", TREND_MONTHS,
                 month=report.month.label),
        _("Persentase langkah yang selesai tepat waktu per bulan. %(figures)s.", figures=description),
        [f"{point.month.short_name}\n{point.month.year}" for point in report.trend],
        [charts.Series(_("Tepat waktu"), [point.percent for point in report.trend])], unit="%", maximum=100)


def _capacity_chart(hosts: list[HostCapacity]) -> Markup | None:
    known = [host for host in hosts if host.memory_percent is not None or host.disk_percent is not None]
    if not known:
        return None
    description = "; ".join(_("%(host)s: memori %(memory)s, disk %(disk)s", host=host.name,
                              memory=_percent_text(host.memory_percent),
                              disk=_percent_text(host.disk_percent)) for host in known)
    return charts.bar_chart(
        "grafik-kapasitas", _("Pemakaian memori dan disk per server (keadaan terkini)"),
        _("Persentase memori dan disk terpakai. %(figures)s.", figures=description),
        [host.name for host in known],
        [charts.Series(_("Memori terpakai"), [host.memory_percent for host in known]),
         charts.Series(_("Disk terpakai"), [host.disk_percent for host in known])],
        unit="%", maximum=100, decimals=1)


def _fold(items: list[Count]) -> list[Count]:
    if len(items) <= CHART_BARS:
        return items
    rest = items[CHART_BARS - 1:]
    return [*items[:CHART_BARS - 1],
            Count("", _("Lainnya (%(count)d)", count=len(rest)), sum(item.count for item in rest))]


def _percent_text(value: float | None) -> str:
    return f"{angka(value, 1)}%" if value is not None else _("tidak ada data")
