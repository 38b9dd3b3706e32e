"""Reports for officials (Laporan): the month on one page, the monthly PDF and spreadsheet exports.

The page speaks the reader's language; the PDF and the exports are official documents and are always
made in Bahasa Indonesia (panel/i18n.py), whatever the reader chose.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, send_file, stream_with_context
from flask_login import current_user

from panel import audit, i18n
from panel.extensions import db
from panel.models import RoleKey
from panel.models.base import utcnow
from panel.permissions import require_role
from panel.services.documents import hosting_letters, report_pdf, spreadsheets
from panel.services.reports import reports

bp = Blueprint("reports", __name__, url_prefix="/reports")

# Officials and auditors read the reports; technicians too, since they keep the inventory
# (SOP Inventarisasi Aplikasi) and the servers' capacity these figures come from.
READERS = (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.AUDITOR, RoleKey.SUPERADMIN, RoleKey.TECHNICIAN)
EXPORTS = {
    "apps": ("aplikasi", "Inventaris aplikasi", reports.APP_HEADER),
    "requests": ("permohonan", "Permohonan", reports.REQUEST_HEADER),
}


@bp.get("")
@require_role(*READERS)
def index() -> Any:
    now = utcnow()
    try:
        month = reports.Month.parse(request.args.get("bulan"), now)
    except reports.InvalidPeriod as invalid:
        return _render_errors(invalid.errors, now)
    report = reports.monthly_report(month, now)
    return render_template("reports/index.html", report=report, charts=reports.charts_for(report),
                           month=month, current=reports.Month.current(now), errors=[])


@bp.get("/monthly/<period>.pdf")
@require_role(*READERS)
def monthly_pdf(period: str) -> Any:
    now = utcnow()
    try:
        month = reports.Month.parse(period, now)
    except reports.InvalidPeriod as invalid:
        return _render_errors(invalid.errors, now)
    with i18n.speaking(i18n.DEFAULT_LOCALE):
        report = reports.monthly_report(month, now)
        pdf = report_pdf.render_monthly_report(report, reports.charts_for(report),
                                               hosting_letters.letterhead(current_app.config))
    audit.record("report.monthly_pdf", month=month.key)
    db.session.commit()
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="laporan-bulanan-{month.key}.pdf"',
        "Cache-Control": "no-store"})


@bp.get("/apps.<any(csv, xlsx):fmt>", endpoint="export_apps", defaults={"dataset": "apps"})
@bp.get("/requests.<any(csv, xlsx):fmt>", endpoint="export_requests", defaults={"dataset": "requests"})
@require_role(*READERS)
def export(dataset: str, fmt: str) -> Any:
    now = utcnow()
    try:
        span = reports.DateRange.parse(request.args, reports.Month.current(now))
    except reports.InvalidPeriod as invalid:
        return _render_errors(invalid.errors, now)
    slug, sheet, header = EXPORTS[dataset]
    rows = (reports.app_rows(current_user, span) if dataset == "apps"
            else reports.request_rows(span, now))
    audit.record("report.export", dataset=dataset, format=fmt, since=span.first.isoformat(),
                 until=span.last.isoformat())
    db.session.commit()
    filename = f"{slug}-{span.slug}.{fmt}"
    if fmt == "csv":
        chunks = _in_indonesian(spreadsheets.csv_chunks(header, rows))
        return Response(stream_with_context(chunks), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store"})
    with i18n.speaking(i18n.DEFAULT_LOCALE):
        workbook = spreadsheets.xlsx_file(sheet, header, rows)
    # send_file closes the temporary file once it is sent, and closing deletes it.
    response = send_file(workbook, mimetype=spreadsheets.XLSX_MIMETYPE, as_attachment=True,
                         download_name=filename)
    response.headers["Cache-Control"] = "no-store"
    return response


def _in_indonesian(chunks: Iterator[str]) -> Iterator[str]:
    """Yield `chunks`, made while streaming, with the labels in them (status, stack...) in Indonesian."""
    with i18n.speaking(i18n.DEFAULT_LOCALE):
        yield from chunks


def _render_errors(errors: list[str], now: Any) -> tuple[str, int]:
    return render_template("reports/index.html", report=None, charts=None, month=None,
                           current=reports.Month.current(now), errors=errors), 400
