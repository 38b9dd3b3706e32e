"""Official letters as PDF: the hosting report (Surat laporan hosting) and the response to the OPD.

The caller gathers the facts into the dataclasses below; rendering reads nothing else, so the same
input always gives the same bytes. None of these classes has a field for a password: the Web Panel
password is handed over separately and a letter only says so (HANDOVER_NOTICE).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from panel.services.documents.indonesian import (
    LetterError,
    format_date,
    format_datetime,
    format_duration,
    verdict_label,
)
from panel.services.documents.letter_pdf import (
    FONT_DIR,
    Letter,
    Letterhead,
    Recipient,
    Signatory,
    TimelineRow,
    elapsed_minutes,
)

# What a letter says in place of the Web Panel password.
HANDOVER_NOTICE = "Kata sandi: diserahkan terpisah, wajib diganti saat login pertama"


@dataclass(frozen=True)
class HostingReport:
    """Surat laporan hosting (Muara Enim SOP steps 7-8): what was hosted, where, and how long it took."""

    letterhead: Letterhead
    number: str
    date: datetime
    recipient: Recipient
    signatory: Signatory
    request_number: str
    opd_name: str
    app_name: str
    subdomain: str  # fully qualified
    host_name: str
    ip: str
    scan_verdict: str  # clean / review / infected, or already a label
    release_number: int
    artifact_sha256: str
    web_panel_username: str
    web_panel_url: str
    timeline: tuple[TimelineRow, ...] = ()
    scan_summary: str = ""  # engines run and what they found
    sifat: str = "Biasa"
    lampiran: str = ""  # blank: "1 (satu) berkas" when there is a timeline to attach, else "-"
    copies: tuple[str, ...] = ()  # tembusan


@dataclass(frozen=True)
class ResponseLetter:
    """Surat tanggapan atas permohonan pembuatan subdomain (Bolmut/Batam): approval or refusal."""

    letterhead: Letterhead
    number: str
    date: datetime
    recipient: Recipient  # the Kepala OPD
    signatory: Signatory
    request_number: str
    opd_name: str
    app_name: str
    subdomain: str
    approved: bool
    reason: str = ""  # required when refused; a note when approved
    request_letter_number: str = ""  # the OPD's own letter, cited in the opening
    request_letter_date: datetime | None = None
    app_url: str = ""
    web_panel_url: str = ""
    web_panel_username: str = ""
    sifat: str = "Biasa"
    lampiran: str = "-"
    copies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.approved and not self.reason.strip():
            raise LetterError("surat penolakan wajib memuat alasan")


@dataclass(frozen=True)
class RecommendationLetter:
    """Surat rekomendasi Tim Teknis (SOP 002 step 16): the developed app may have a subdomain and hosting."""

    letterhead: Letterhead
    number: str
    date: datetime
    recipient: Recipient  # the Kepala OPD whose app was developed
    signatory: Signatory
    request_number: str
    opd_name: str
    app_name: str
    subdomain: str  # fully qualified, as asked for
    stack: str
    findings: str = ""  # Tim Teknis's note on the tested app
    sifat: str = "Biasa"
    lampiran: str = "-"
    copies: tuple[str, ...] = ()


def _web_panel(url: str, username: str) -> str:
    return f"Alamat: {url or '-'}\nNama pengguna: {username or '-'}\n{HANDOVER_NOTICE}"


def _short_sha(digest: str) -> str:
    digest = digest.strip().lower().removeprefix("sha256:")
    return digest[:12] if digest else "-"


def _require(values: dict[str, str]) -> None:
    missing = [name for name, value in values.items() if not str(value).strip()]
    if missing:
        raise LetterError(f"data surat belum lengkap: {', '.join(missing)}")


def render_hosting_report(data: HostingReport, *, font_dir: Path = FONT_DIR) -> bytes:
    """Render the Surat laporan hosting as PDF bytes: the letter, then the step timeline as its attachment."""
    _require({"number": data.number, "request_number": data.request_number, "opd_name": data.opd_name,
              "app_name": data.app_name, "subdomain": data.subdomain})
    head, zone = data.letterhead, data.letterhead.zone
    pdf = Letter(head, data.date, f"Surat Laporan Hosting {data.request_number}", font_dir)
    pdf.add_page()
    pdf.kop()
    pdf.title_block("Surat Laporan Hosting")
    lampiran = data.lampiran.strip() or ("1 (satu) berkas" if data.timeline else "-")
    pdf.fields([
        ("Nomor", data.number),
        ("Sifat", data.sifat),
        ("Lampiran", lampiran),
        ("Perihal", f"Laporan penggunaan sub-domain dan hosting aplikasi {data.app_name}"),
    ])
    pdf.recipient(data.recipient)
    pdf.paragraph("Dengan hormat,", gap=1.5)
    finished = [row.finished for row in data.timeline if row.finished]
    live = f" pada {format_datetime(max(finished), zone)}" if finished else ""
    pdf.paragraph(
        f"Bersama ini kami laporkan bahwa permohonan penggunaan sub-domain dan hosting Nomor "
        f"{data.request_number} dari {data.opd_name} telah selesai diproses{live}; aplikasi berjalan "
        f"pada Data Center Pemerintah {head.pemda} dengan rincian sebagai berikut:"
    )
    verdict = verdict_label(data.scan_verdict)
    if data.scan_summary.strip():
        verdict = f"{verdict}\n{data.scan_summary}"
    pdf.facts([
        ("Nomor permohonan", data.request_number),
        ("Perangkat Daerah", data.opd_name),
        ("Nama aplikasi", data.app_name),
        ("Sub-domain", data.subdomain),
        ("Server / alamat IP", f"{data.host_name} / {data.ip}"),
        ("Pemeriksaan keamanan", verdict),
        ("Rilis", f"Rilis ke-{data.release_number}, SHA-256 {_short_sha(data.artifact_sha256)}"),
        ("Akun Web Panel", _web_panel(data.web_panel_url, data.web_panel_username)),
    ])
    attached = (" Rincian waktu pelaksanaan setiap langkah SOP terhadap Mutu Baku terlampir."
                if data.timeline else "")
    pdf.closing(f"Demikian laporan ini kami sampaikan.{attached} Atas perhatian Bapak/Ibu diucapkan "
                f"terima kasih.", data.signatory, data.date, data.copies)
    if data.timeline:
        pdf.attachment_head("Surat Laporan Hosting", data.number, data.date)
        pdf.title_block("Waktu Pelaksanaan SOP terhadap Mutu Baku",
                        f"Permohonan {data.request_number} dari {data.opd_name}: {data.app_name}")
        pdf.timeline(data.timeline)
        pdf.note(_timeline_summary(data.timeline))
        pdf.closing("", data.signatory, data.date)
    return pdf.finish()


def _timeline_summary(rows: Sequence[TimelineRow]) -> str:
    judged = [row for row in rows if row.on_time is not None]
    on_time = sum(1 for row in judged if row.on_time)
    spent = sum(value for value in (elapsed_minutes(row) for row in rows) if value is not None)
    limit = sum(row.mutu_baku_minutes or 0 for row in rows)
    return (f"Total waktu pelaksanaan {format_duration(spent)} dari Mutu Baku {format_duration(limit)}; "
            f"{on_time} dari {len(judged)} langkah yang selesai memenuhi Mutu Baku waktu.")


def render_response_letter(data: ResponseLetter, *, font_dir: Path = FONT_DIR) -> bytes:
    """Render the Surat tanggapan atas permohonan pembuatan subdomain to the Kepala OPD as PDF bytes."""
    _require({"number": data.number, "request_number": data.request_number, "opd_name": data.opd_name,
              "subdomain": data.subdomain})
    head, zone = data.letterhead, data.letterhead.zone
    pdf = Letter(head, data.date, f"Surat Tanggapan {data.request_number}", font_dir)
    pdf.add_page()
    pdf.kop()
    pdf.fields([
        ("Nomor", data.number),
        ("Sifat", data.sifat),
        ("Lampiran", data.lampiran),
        ("Perihal", "Tanggapan atas Permohonan Pembuatan Subdomain"),
    ])
    pdf.recipient(data.recipient)
    pdf.paragraph("Dengan hormat,", gap=1.5)
    if data.request_letter_number.strip():
        cited = f"surat Saudara Nomor {data.request_letter_number}"
        if data.request_letter_date is not None:
            cited += f" tanggal {format_date(data.request_letter_date, zone)}"
    else:
        cited = "permohonan Saudara"
    opening = (f"Menindaklanjuti {cited} perihal Permohonan Pembuatan Subdomain dan Hosting Aplikasi "
               f"{data.app_name} ({data.opd_name}), terdaftar dengan nomor permohonan {data.request_number}, "
               f"dengan ini kami sampaikan bahwa permohonan tersebut ")
    if data.approved:
        pdf.paragraph(opening + f"DISETUJUI. Sub-domain {data.subdomain} telah aktif pada Data Center "
                      f"Pemerintah {head.pemda} dengan rincian sebagai berikut:")
        rows = [
            ("Nomor permohonan", data.request_number),
            ("Perangkat Daerah", data.opd_name),
            ("Nama aplikasi", data.app_name),
            ("Sub-domain", data.subdomain),
        ]
        if data.app_url.strip():
            rows.append(("Alamat aplikasi", data.app_url))
        if data.web_panel_username.strip() or data.web_panel_url.strip():
            rows.append(("Akun Web Panel", _web_panel(data.web_panel_url, data.web_panel_username)))
        pdf.facts(rows)
        if data.reason.strip():
            pdf.paragraph(f"Catatan: {data.reason}")
        pdf.paragraph(
            "Pengelola aplikasi pada Perangkat Daerah Saudara bertanggung jawab atas isi dan keamanan "
            "aplikasi, menjaga kerahasiaan akun Web Panel, dan memperbarui aplikasi melalui Web Panel "
            "agar setiap berkas diperiksa keamanannya sebelum ditayangkan."
        )
    else:
        pdf.paragraph(opening + f"BELUM DAPAT DISETUJUI untuk sub-domain {data.subdomain}, dengan alasan:")
        pdf.indented(data.reason)
        pdf.paragraph(
            "Saudara dapat mengajukan kembali permohonan setelah hal tersebut di atas dipenuhi."
        )
    pdf.closing("Demikian disampaikan, atas perhatian dan kerja samanya diucapkan terima kasih.",
                data.signatory, data.date, data.copies)
    return pdf.finish()


def render_recommendation_letter(data: RecommendationLetter, *, font_dir: Path = FONT_DIR) -> bytes:
    """Render the Tim Teknis's Surat Rekomendasi for a subdomain and hosting as PDF bytes."""
    _require({"number": data.number, "request_number": data.request_number, "opd_name": data.opd_name,
              "app_name": data.app_name, "subdomain": data.subdomain})
    head = data.letterhead
    pdf = Letter(head, data.date, f"Surat Rekomendasi {data.request_number}", font_dir)
    pdf.add_page()
    pdf.kop()
    pdf.title_block("Surat Rekomendasi")
    pdf.fields([
        ("Nomor", data.number),
        ("Sifat", data.sifat),
        ("Lampiran", data.lampiran),
        ("Perihal", "Rekomendasi pembuatan subdomain dan penyediaan layanan hosting aplikasi"),
    ])
    pdf.recipient(data.recipient)
    pdf.paragraph("Dengan hormat,", gap=1.5)
    pdf.paragraph(
        f"Tim Teknis {head.dinas} telah memeriksa, memasang dan menguji aplikasi {data.app_name} yang "
        f"dikembangkan untuk {data.opd_name} (nomor pengembangan {data.request_number}). Dengan ini Tim "
        f"Teknis MEREKOMENDASIKAN pembuatan subdomain dan penyediaan layanan hosting aplikasi tersebut "
        f"pada Data Center Pemerintah {head.pemda} dengan rincian sebagai berikut:"
    )
    pdf.facts([
        ("Nomor pengembangan", data.request_number),
        ("Perangkat Daerah", data.opd_name),
        ("Nama aplikasi", data.app_name),
        ("Sub-domain", data.subdomain),
        ("Jenis aplikasi", data.stack),
    ])
    if data.findings.strip():
        pdf.paragraph(f"Catatan Tim Teknis: {data.findings}")
    pdf.paragraph(f"Permohonan hosting dapat menyebut nomor rekomendasi {data.number} sebagai pengganti "
                  f"unggahan surat rekomendasi.")
    pdf.closing("Demikian rekomendasi ini dibuat untuk dipergunakan sebagaimana mestinya.",
                data.signatory, data.date, data.copies)
    return pdf.finish()
