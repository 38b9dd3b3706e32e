"""The printable monthly report (Laporan bulanan) as PDF: the month's figures, tables and charts under
the office's letterhead, set with the letters' fonts and page layout."""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace
from markupsafe import Markup

from panel import charts
from panel.formatting import HOST_STATUS_LABELS, angka, durasi, tanggal, ukuran
from panel.services.documents import letter_pdf
from panel.services.reports.charts import ReportCharts
from panel.services.reports.figures import Count, MonthlyReport

HEADING_PT = 11.5
EMPTY = "Tidak ada data pada periode ini."
WORKING_TIME_NOTE = ("Mutu Baku dihitung dalam waktu kerja menurut kalender kerja Pemda: malam, akhir pekan, "
                     "libur nasional dan cuti bersama tidak dihitung.")


class MonthlyReportPdf(letter_pdf.Letter):
    """A letter-styled document with numbered section headings, plain tables and vector charts."""

    def heading(self, text: str) -> None:
        if self.get_y() + 30 > self.page_break_trigger:  # keep a heading with what follows it
            self.add_page()
        self.ln(2)
        self.set_font(letter_pdf.FONT, "B", HEADING_PT)
        self.multi_cell(0, 6, self.clean(text), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(letter_pdf.FONT, "", letter_pdf.BODY_PT)
        self.ln(1)

    def grid(self, headings: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
             align: Sequence[Align] | None = None) -> None:
        """Draw a table with a shaded heading row repeated on each page; an empty table says so."""
        if not rows:
            self.note(EMPTY)
            self.ln(3)
            return
        self.set_font(letter_pdf.FONT, "", letter_pdf.TABLE_PT)
        align = align or [Align.L, *[Align.R] * (len(headings) - 1)]
        with self.table(col_widths=tuple(widths), width=self.epw, align=Align.L, text_align=tuple(align),
                        v_align="MIDDLE", line_height=4.2, padding=(1.0, 1.5), repeat_headings=1,
                        headings_style=FontFace(emphasis="BOLD", fill_color=letter_pdf.HEADING_FILL),
                        borders_layout="ALL") as table:
            heading = table.row()
            for text in headings:
                heading.cell(text, align=Align.C)
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(self.clean(value) or "-")
        self.set_font(letter_pdf.FONT, "", letter_pdf.BODY_PT)
        self.ln(3)

    def chart(self, svg: Markup | None) -> None:
        if svg is None:
            return
        self.image(io.BytesIO(charts.for_print(svg)), w=self.epw)
        self.ln(3)


def render_monthly_report(report: MonthlyReport, drawn: ReportCharts, head: letter_pdf.Letterhead, *,
                          font_dir: Path = letter_pdf.FONT_DIR) -> bytes:
    """Render the month's report as PDF bytes."""
    month = report.month.label
    pdf = MonthlyReportPdf(head, report.generated_at, f"Laporan Bulanan Data Center {month}", font_dir)
    pdf.add_page()
    pdf.kop()
    pdf.title_block("Laporan Bulanan Data Center", f"Periode {month}")
    apps, scans = report.apps, report.scans
    pdf.facts([
        ("Aplikasi di-hosting", f"{angka(apps.total)} aplikasi pada akhir {month} "
                                f"({angka(apps.new)} baru dicatat pada bulan ini)"),
        ("Permohonan diajukan", f"{angka(report.requests_total)} permohonan"),
        ("Mutu Baku waktu", f"{angka(report.steps_finished)} langkah SOP selesai, "
                            f"{_percent(report.on_time_percent)} tepat waktu"),
        ("Pemindaian berkas", f"{angka(scans.total)} pemindaian, {angka(scans.blocked)} diblokir"),
        ("Server", f"{angka(len(report.hosts))} server terdaftar"),
    ])

    pdf.heading("1. Pencatatan dan Pendataan Aplikasi")
    if not apps.total:
        pdf.note("Belum ada aplikasi yang di-hosting di data center pada akhir periode ini.")
        pdf.ln(3)
    else:
        pdf.chart(drawn.apps_by_opd)
        pdf.grid(("No", "Perangkat Daerah (OPD)", "Aplikasi"), _numbered(apps.by_opd), (10, 125, 30),
                 (Align.C, Align.L, Align.R))
        pdf.grid(("Jenis aplikasi", "Aplikasi"), _counts(apps.by_stack), (135, 30))
        pdf.grid(("Server", "Aplikasi"), _counts(apps.by_host), (135, 30))

    pdf.heading("2. Permohonan Hosting")
    if report.requests:
        pdf.grid(("Status sekarang", "Permohonan"), _counts(report.requests), (135, 30))
    else:
        pdf.note(f"Tidak ada permohonan yang diajukan pada {month}.")
        pdf.ln(3)

    pdf.heading("3. Kepatuhan Mutu Baku Waktu")
    pdf.note(WORKING_TIME_NOTE)
    pdf.grid(("Langkah SOP", "Selesai", "Tepat waktu", "%", "Rata-rata"),
             [(step.label, angka(step.finished), angka(step.on_time), _percent(step.percent),
               durasi(step.average_minutes)) for step in report.steps], (75, 20, 22, 20, 28))
    pdf.chart(drawn.trend)
    pdf.grid(("Bulan", "Langkah selesai", "Tepat waktu", "%"),
             [(point.month.label, angka(point.finished), angka(point.on_time), _percent(point.percent))
              for point in report.trend], (60, 35, 35, 35))

    pdf.heading("4. Pemindaian Keamanan Berkas")
    pdf.grid(("Hasil pemindaian", "Jumlah"), _counts(scans.by_verdict), (135, 30))
    if scans.top_rules:
        pdf.grid(("Mesin pemindai", "Aturan", "Temuan"),
                 [(item.engine, item.rule, angka(item.count)) for item in scans.top_rules], (40, 95, 30),
                 (Align.L, Align.L, Align.R))

    pdf.heading("5. Kapasitas Server (keadaan terkini)")
    pdf.chart(drawn.capacity)
    pdf.grid(("Server", "Status", "Aplikasi", "Memori terpakai", "Disk terpakai", "CPU dipesan"),
             [(host.name, HOST_STATUS_LABELS.get(host.status, host.status), angka(host.apps),
               _usage(host.memory_used, host.memory_total, host.memory_percent),
               _usage(host.disk_used, host.disk_total, host.disk_percent),
               f"{angka(host.cpus_committed, 1)} / {angka(host.cpus)}" if host.cpus else "-")
              for host in report.hosts], (30, 25, 17, 34, 34, 25),
             (Align.L, Align.L, Align.R, Align.R, Align.R, Align.R))
    pdf.note(f"Dibuat oleh Wadah pada {tanggal(report.generated_at)}. Angka aplikasi tidak memuat aplikasi "
             "yang sudah dihapus; kapasitas server menurut laporan terakhir agen.")
    return pdf.finish()


def _counts(items: list[Count]) -> list[tuple[str, str]]:
    return [(item.label, angka(item.count)) for item in items]


def _numbered(items: list[Count]) -> list[tuple[str, str, str]]:
    return [(str(number), item.label, angka(item.count)) for number, item in enumerate(items, start=1)]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{angka(value, 1)}%"


def _usage(used: int | None, total: int | None, percent: float | None) -> str:
    if used is None or total is None:
        return "-"
    return f"{ukuran(used)} / {ukuran(total)} ({_percent(percent)})"
