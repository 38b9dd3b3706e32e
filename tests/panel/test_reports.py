"""Reports (Laporan): the month's figures, their charts, the exports and the monthly PDF."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from pypdf import PdfReader
from sqlalchemy import event, select

from panel import charts
from panel.extensions import db
from panel.models import AuditEvent, HostStatus, RoleKey
from panel.models.base import utcnow
from panel.services.documents import spreadsheets
from panel.services.reports import charts as report_charts
from panel.services.reports import exports as report_exports
from panel.services.reports import figures
from panel.services.reports.periods import DateRange, InvalidPeriod, Month
from tests.panel import factories
from tests.panel.report_data import GIB, add_step, findings_of, instant, seed, xlsx_rows

# --- seeded data ------------------------------------------------------------------------------

def more(month: Month, n: int) -> None:
    """Add `n` of everything, so a second count of statements sees more rows."""
    for index in range(n):
        owner = factories.opd()
        node = factories.host(status=HostStatus.ONLINE, facts={"memory_total_bytes": GIB,
                                                                "memory_available_bytes": GIB // 2})
        factories.app(owner, host=node, created_at=instant(month, 1 + index % 20))
        filed = factories.hosting_request(owner)
        filed.submitted_at = instant(month, 2)
        add_step(filed, "terima_permohonan", 5, instant(month, 2), index)
        add_step(filed, f"langkah_{index}", 5, instant(month.shifted(-index % 12), 2), 1)
        factories.scan_report("infected", started_at=instant(month, 3),
                              report=findings_of(("php", f"rule_{index}")))
    db.session.commit()


@pytest.fixture
def month() -> Month:
    return Month.current(utcnow())


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


# --- periods ----------------------------------------------------------------------------------

NOW = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)  # already 1 April in WIB


def test_month_is_read_in_local_time() -> None:
    assert Month.parse("", NOW) == Month(2026, 4)
    march = Month.parse("2026-03", NOW)
    assert (march.key, march.label) == ("2026-03", "Maret 2026")
    assert march.start == datetime(2026, 2, 28, 17, 0, tzinfo=UTC)
    assert march.end == datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
    assert Month(2026, 1).shifted(-1) == Month(2025, 12) and Month(2025, 12).shifted(1) == Month(2026, 1)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-3", "maret", "2026-03-01", "1999-12",
                                  "2026-05"])
def test_invalid_or_future_month_is_refused(text: str) -> None:
    with pytest.raises(InvalidPeriod) as refused:
        Month.parse(text, NOW)
    assert refused.value.errors and all(error.endswith(".") for error in refused.value.errors)


def test_date_range_defaults_to_the_month_and_refuses_bad_dates() -> None:
    span = DateRange.parse({}, Month(2026, 2))
    assert (span.first.isoformat(), span.last.isoformat()) == ("2026-02-01", "2026-02-28")
    assert span.end - span.start == timedelta(days=28)
    with pytest.raises(InvalidPeriod, match="Dari tanggal tidak valid"):
        DateRange.parse({"dari": "2026-02-30"}, Month(2026, 2))
    with pytest.raises(InvalidPeriod, match="tidak boleh sesudah"):
        DateRange.parse({"dari": "2026-03-02", "sampai": "2026-03-01"}, Month(2026, 2))


# --- figures ----------------------------------------------------------------------------------

def test_figures_for_seeded_data(app, month: Month) -> None:
    seed(month)
    report = figures.monthly_report(month, utcnow())
    apps = report.apps
    assert (apps.total, apps.new) == (4, 3)
    assert [(c.label, c.count) for c in apps.by_opd] == [("Dinas Kesehatan", 3), ("Dinas Pendidikan", 1)]
    assert [(c.label, c.count) for c in apps.by_stack] == [("PHP", 2), ("Situs statis", 2)]
    assert [(c.label, c.count) for c in apps.by_host] == [("node-a", 3), ("Belum ditempatkan", 1)]
    assert report.requests_total == 2
    assert [(c.label, c.count) for c in report.requests] == [("Diajukan", 1), ("Ditolak", 1)]

    steps = {step.step_key: step for step in report.steps}
    assert list(steps) == ["terima_permohonan", "telaah_koordinasi"]  # in the SOP's order
    assert (steps["terima_permohonan"].finished, steps["terima_permohonan"].on_time) == (2, 2)
    assert steps["terima_permohonan"].average_minutes == pytest.approx(4.0, abs=0.01)
    assert (steps["telaah_koordinasi"].finished, steps["telaah_koordinasi"].on_time) == (1, 0)
    assert steps["terima_permohonan"].label.startswith("Menerima surat permohonan")
    assert report.on_time_percent == pytest.approx(200 / 3)
    assert len(report.trend) == 12 and report.trend[-1].month == month
    assert [(p.finished, p.on_time) for p in report.trend[-2:]] == [(1, 1), (3, 2)]
    assert sum(p.finished for p in report.trend[:-2]) == 0

    scans = report.scans
    assert (scans.total, scans.blocked) == (5, 2)
    assert [(c.key, c.count) for c in scans.by_verdict] == [
        ("clean", 2), ("review", 1), ("infected", 1), ("rejected", 1)]
    assert [(r.engine, r.rule, r.count) for r in scans.top_rules] == [
        ("php", "php_eval_request", 2), ("clamav", "Php.Webshell.Generic", 1),
        ("judol", "judol_vocabulary", 1)]
    assert {c.label: c.count for c in scans.by_engine} == {"php": 2, "clamav": 1, "judol": 1}

    hosts = {host.name: host for host in report.hosts}
    assert set(hosts) == {"node-a", "node-b"}  # retired hosts are left out
    node = hosts["node-a"]
    assert node.apps == 3 and node.memory_percent == pytest.approx(75)
    assert (node.disk_path, node.disk_percent) == ("/var/lib/wadah", pytest.approx(60))
    assert (node.cpus, node.cpus_committed, node.load) == (4, 2.5, 0.5)
    assert hosts["node-b"].memory_percent is None and hosts["node-b"].apps == 0


def test_an_earlier_month_counts_what_existed_then(app, month: Month) -> None:
    seed(month)
    report = figures.monthly_report(month.shifted(-1), utcnow())
    assert (report.apps.total, report.apps.new) == (1, 1)
    assert report.requests_total == 1 and report.scans.blocked == 1


def test_statement_count_does_not_grow_with_the_data(app, client, login_as, month: Month) -> None:
    seed(month)
    login_as(RoleKey.HEAD)
    with counted_statements() as small:
        assert client.get("/reports").status_code == 200
    more(month, 25)
    with counted_statements() as large:
        page = client.get("/reports")
    assert page.status_code == 200
    assert len(large) == len(small), "\n".join(large)
    assert len(small) <= 20, len(small)


# --- charts -----------------------------------------------------------------------------------

def test_charts_are_accessible_svg_without_style_or_script(app, month: Month) -> None:
    seed(month)
    drawn = report_charts.charts_for(figures.monthly_report(month, utcnow()))
    svgs = [value for value in vars(drawn).values() if value is not None]
    assert len(svgs) == 8
    for svg in svgs:
        text = str(svg)
        assert text.startswith("<svg") and 'role="img"' in text
        assert "<title" in text and "<desc" in text
        assert "style=" not in text and "<script" not in text.lower()
        ElementTree.fromstring(text)  # well-formed, so fpdf2 can read it


def test_chart_text_is_escaped_and_numbers_are_indonesian() -> None:
    svg = str(charts.bar_chart("x", "Judul <b>", "Uraian", ["<script>alert(1)</script>", "Dinas & Co"],
                               [charts.Series("Jumlah", [1234, None])]))
    assert "<script" not in svg and "&lt;script&gt;" in svg and "Dinas &amp; Co" in svg
    assert ">1.234<" in svg and ">—<" in svg
    line = str(charts.line_chart("y", "Tren", "Uraian", ["Jan\n2026", "Feb\n2026"],
                                 [charts.Series("A", [50.5, None])], unit="%", maximum=100, decimals=1))
    assert ">50,5%<" in line and "<polyline" not in line  # one point draws no line
    printed = charts.for_print(charts.bar_chart("z", "T", "D", ["a"], [charts.Series("s", [1])]))
    assert b"<title" not in printed and b"<desc" not in printed and printed.startswith(b"<svg")


# --- the page ---------------------------------------------------------------------------------

def test_page_shows_the_figures_charts_and_tables(client, login_as, month: Month) -> None:
    seed(month)
    login_as(RoleKey.COORDINATOR)
    page = client.get("/reports").get_data(as_text=True)
    assert month.label in page
    assert page.count("<svg") == 8 and page.count('role="img"') == 8
    assert "style=" not in page and "<script" not in page
    assert "Dinas Kesehatan" in page and "php_eval_request" in page and "node-a" in page
    assert f"/reports/monthly/{month.key}.pdf" in page
    assert '<a href="/reports">Laporan</a>' in page  # the menu link


def test_empty_data_center_says_so(client, login_as) -> None:
    login_as(RoleKey.HEAD)
    page = client.get("/reports").get_data(as_text=True)
    assert "Belum ada aplikasi yang di-hosting" in page
    assert "Tidak ada permohonan yang diajukan" in page
    assert "Tidak ada berkas yang dipindai" in page
    assert "Belum ada server yang terdaftar" in page
    assert "<svg" not in page


@pytest.mark.parametrize("url", [
    "/reports?bulan=2026-13", "/reports?bulan=maret", "/reports?bulan=2999-12",
    "/reports/monthly/2026-13.pdf", "/reports/monthly/bulan-ini.pdf",
    "/reports/apps.csv?dari=2026-02-30", "/reports/requests.xlsx?dari=2026-03-02&sampai=2026-03-01",
])
def test_invalid_period_answers_400_in_indonesian(client, login_as, url: str) -> None:
    login_as(RoleKey.AUDITOR)
    response = client.get(url)
    assert response.status_code == 400
    assert "Laporan tidak dapat dibuat" in response.get_data(as_text=True)


@pytest.mark.parametrize(("role", "allowed"), [
    (RoleKey.HEAD, True), (RoleKey.COORDINATOR, True), (RoleKey.AUDITOR, True), (RoleKey.SUPERADMIN, True),
    (RoleKey.TECHNICIAN, True), (RoleKey.OPD_ADMIN, False),
])
def test_reports_are_for_the_data_center_only(client, login_as, role: RoleKey, allowed: bool) -> None:
    login_as(role)
    assert (client.get("/reports").status_code == 200) is allowed
    assert (client.get("/reports/apps.csv").status_code == 200) is allowed
    assert ('<a href="/reports">Laporan</a>' in client.get("/").get_data(as_text=True)) is allowed


# --- exports ----------------------------------------------------------------------------------

def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def _range(month: Month) -> str:
    return f"dari={month.first_day.isoformat()}&sampai={month.last_day.isoformat()}"


def test_app_inventory_exports_as_streamed_csv_and_xlsx(client, login_as, month: Month) -> None:
    seeded = seed(month)
    tricky = factories.opd(name="=HYPERLINK(\"http://contoh\")")
    factories.app(tricky, name="-rekap", created_at=instant(month, 6))
    db.session.commit()
    login_as(RoleKey.AUDITOR)

    response = client.get(f"/reports/apps.csv?{_range(month)}")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert f"aplikasi-{month.first_day:%Y%m%d}" in response.headers["Content-Disposition"]
    rows = _csv(response)
    assert rows[0] == list(report_exports.APP_HEADER)
    body = {row[0]: row for row in rows[1:]}
    assert len(body) == 4  # registered in the month, removed ones left out
    assert {row[2] for row in body.values()} == {seeded["health"].name, seeded["school"].name,
                                                 "'=HYPERLINK(\"http://contoh\")"}
    assert "'-rekap" in body  # formula injection neutralised
    assert body["'-rekap"][4] == "Belum ditempatkan"

    workbook = client.get(f"/reports/apps.xlsx?{_range(month)}")
    assert workbook.status_code == 200
    assert workbook.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = xlsx_rows(workbook.get_data())
    workbook.close()
    assert sheet[0] == list(report_exports.APP_HEADER)
    assert sorted(row[0] for row in sheet[1:]) == sorted(body)
    assert "'=HYPERLINK(\"http://contoh\")" in {row[2] for row in sheet[1:]}

    exports = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "report.export")).all()
    assert [(e.details["dataset"], e.details["format"]) for e in exports] == [
        ("apps", "csv"), ("apps", "xlsx")]
    assert exports[0].details["since"] == month.first_day.isoformat()


def test_requests_export_lists_each_step_with_its_timing(client, login_as, month: Month) -> None:
    seed(month)
    filed = factories.hosting_request(app_name="@SUM(1)", contact="+62 811")
    filed.submitted_at = instant(month, 7)
    db.session.commit()
    login_as(RoleKey.HEAD)

    response = client.get(f"/reports/requests.csv?{_range(month)}")
    assert response.is_streamed
    rows = _csv(response)
    header = rows[0]
    assert header == list(report_exports.REQUEST_HEADER)
    by_app = {}
    for row in rows[1:]:
        by_app.setdefault(row[header.index("aplikasi")], []).append(dict(zip(header, row, strict=True)))
    assert set(by_app) == {"SIMPEG", "E-Rapor", "'@SUM(1)"}
    late = next(r for r in by_app["SIMPEG"] if r["langkah"].startswith("Menelaah"))
    assert (late["durasi_menit"], late["mutu_baku_menit"], late["tepat_waktu"]) == ("15.0", "10", "Tidak")
    on_time = [r for r in by_app["E-Rapor"] if r["mutu_baku_menit"] == "5" and r["selesai"]]
    assert [r["tepat_waktu"] for r in on_time] == ["Ya"]
    assert by_app["E-Rapor"][0]["status"] == "Ditolak"

    workbook = client.get(f"/reports/requests.xlsx?{_range(month)}")
    sheet = xlsx_rows(workbook.get_data())
    workbook.close()  # which closes, and so deletes, the temporary file
    assert sheet[0] == list(report_exports.REQUEST_HEADER)
    assert len(sheet) == len(rows)


def test_exports_are_read_lazily_in_chunks(app, month: Month) -> None:
    seed(month)
    more(month, 5)
    auditor = factories.user([RoleKey.AUDITOR])
    db.session.commit()
    span = DateRange(month.first_day, month.last_day)
    with counted_statements() as statements:
        rows = report_exports.app_rows(auditor, span, chunk_rows=2)
        assert statements == []  # nothing is read before the response starts
        assert len(list(rows)) == 8
    pieces = list(spreadsheets.csv_chunks(("n",), ([n] for n in range(5)), chunk_rows=2))
    assert pieces == ["n\r\n", "0\r\n1\r\n", "2\r\n3\r\n", "4\r\n"]
    assert spreadsheets.safe_cell("=1+2") == "'=1+2" and spreadsheets.safe_cell("Dinas") == "Dinas"


# --- the PDF ----------------------------------------------------------------------------------

def test_monthly_pdf_holds_the_figures(client, login_as, month: Month) -> None:
    seed(month)
    login_as(RoleKey.HEAD)
    response = client.get(f"/reports/monthly/{month.key}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.get_data()))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert f"Periode {month.label}" in text
    assert f"4 aplikasi pada akhir {month.label}" in text
    assert "2 permohonan" in text and "5 pemindaian, 2 diblokir" in text
    assert "Dinas Kesehatan" in text and "php_eval_request" in text
    assert db.session.scalar(select(AuditEvent.details).where(AuditEvent.action == "report.monthly_pdf")) == {
        "month": month.key}


def test_monthly_pdf_of_an_empty_month(client, login_as, month: Month) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = client.get(f"/reports/monthly/{month.shifted(-3).key}.pdf")
    assert response.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.get_data())).pages)
    assert "Belum ada aplikasi yang di-hosting" in text


# --- PostgreSQL -------------------------------------------------------------------------------

@pytest.mark.usefixtures("postgres_app")
def test_report_queries_run_on_postgresql(month: Month) -> None:
    from panel.services.requests import workflow

    assert db.engine.dialect.name == "postgresql"
    workflow.ensure_builtin_templates()
    seed(month)
    report = figures.monthly_report(month, utcnow())
    assert (report.apps.total, report.requests_total, report.scans.blocked) == (4, 2, 2)
    steps = {step.step_key: (step.finished, step.on_time) for step in report.steps}
    assert steps == {"terima_permohonan": (2, 2), "telaah_koordinasi": (1, 0)}
    assert [(p.finished, p.on_time) for p in report.trend[-2:]] == [(1, 1), (3, 2)]
    assert report.scans.top_rules[0].rule == "php_eval_request"
    span = DateRange(month.first_day, month.last_day)
    assert len(list(report_exports.app_rows(factories.user([RoleKey.AUDITOR]), span))) == 3
    assert [row[-1] for row in report_exports.request_rows(span, utcnow())].count("Tidak") == 1
    unfinished = report_exports.request_rows(span, utcnow(), chunk_rows=1)
    next(unfinished)
    unfinished.close()  # a download cut short closes its server-side cursor at once
