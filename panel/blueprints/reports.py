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
from panel.models import RoleKey, User
from panel.models.base import utcnow
from panel.permissions import require_role
from panel.services.documents import hosting_letters, report_pdf, spreadsheets
from panel.services.reports import charts, exports, figures, periods

bp = Blueprint("reports", __name__, url_prefix="/reports")

# Officials and auditors read the reports; technicians too, since they keep the inventory
# (SOP Inventarisasi Aplikasi) and the servers' capacity these figures come from.
READERS = (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.AUDITOR, RoleKey.SUPERADMIN, RoleKey.TECHNICIAN)
EXPORTS = {
    "apps": ("aplikasi", "Inventaris aplikasi", exports.APP_HEADER),
    "requests": ("permohonan", "Permohonan", exports.REQUEST_HEADER),
}


@bp.get("")
@require_role(*READERS)
def index() -> Any:
    now = utcnow()
    try:
        month = periods.Month.parse(request.args.get("bulan"), now)
    except periods.InvalidPeriod as invalid:
        return _render_errors(invalid.errors, now)
    report = figures.monthly_report(month, now)
    return render_template("reports/index.html", report=report, charts=charts.charts_for(report),
                           month=month, current=periods.Month.current(now), errors=[])


@bp.get("/monthly/<period>.pdf")
@require_role(*READERS)
def monthly_pdf(period: str) -> Any:
    now = utcnow()
    try:
        month = periods.Month.parse(period, now)
    except periods.InvalidPeriod as invalid:
        return _render_errors(invalid.errors, now)
    with i18n.speaking(i18n.DEFAULT_LOCALE):
        report = figures.monthly_report(month, now)
        pdf = report_pdf.render_monthly_report(report, charts.charts_for(report),
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
        span = periods.DateRange.parse(request.args, periods.Month.current(now))
    except periods.InvalidPeriod as invalid:
        return _render_errors(invalid.errors, now)
    slug, sheet, header = EXPORTS[dataset]
    rows = (_app_rows(current_user.id, span) if dataset == "apps"
            else exports.request_rows(span, now))
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


def _app_rows(user_id: int, span: periods.DateRange) -> Iterator[tuple[Any, ...]]:
    """Yield the apps export for the user `user_id`, read in the session the rows are read in."""
    # A CSV streams after the request's session has closed, and the signed-in user loaded in it
    # can no longer load its roles: take the user again from the session the stream reads with.
    yield from exports.app_rows(db.session.get_one(User, user_id), span)


def _in_indonesian(chunks: Iterator[str]) -> Iterator[str]:
    """Yield `chunks`, made while streaming, with the labels in them (status, stack...) in Indonesian."""
    with i18n.speaking(i18n.DEFAULT_LOCALE):
        yield from chunks


def _render_errors(errors: list[str], now: Any) -> tuple[str, int]:
    return render_template("reports/index.html", report=None, charts=None, month=None,
                           current=periods.Month.current(now), errors=errors), 400
