"""The official letters render as valid PDFs that state the facts and never a password."""
from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from panel.services.documents import indonesian, letter_pdf
from panel.services.documents.indonesian import LetterError
from panel.services.documents.letter_pdf import Letterhead, Recipient, Signatory, TimelineRow
from panel.services.documents.letters import (
    HANDOVER_NOTICE,
    HostingReport,
    ResponseLetter,
    render_hosting_report,
    render_response_letter,
)
from tests.panel.letter_samples import MUARA_ENIM, STEPS, hosting_report, response_letter, timeline
from tests.support import unavailable


def need(present: bool, what: str) -> None:
    """Skip when a Debian package the letters use is missing; in CI, where bootstrap installs it, fail."""
    if not present:
        unavailable(f"{what} is not installed")


@pytest.fixture(autouse=True)
def dejavu_font() -> None:
    need((letter_pdf.FONT_DIR / "DejaVuSans.ttf").is_file(), "fonts-dejavu-core")


def pdf_text(data: bytes) -> str:
    """Return the text of every page, whitespace collapsed, as a reader of the PDF would see it."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def assert_valid_pdf(data: bytes) -> PdfReader:
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) >= 1
    return reader


def test_hosting_report_states_the_facts() -> None:
    data = render_hosting_report(hosting_report())
    assert_valid_pdf(data)
    text = pdf_text(data)
    for fact in ("HST-2026-0042", "Dinas Kesehatan Kabupaten Muara Enim", "simpus.muaraenimkab.go.id",
                 "dc-node-02", "127.20.0.12", "Bersih", "dinkes-simpus", "https://panel.muaraenimkab.go.id/",
                 "Rilis ke-3", "9f2c4e1ab07d", "500.12/0457/Diskominfo-III/2026", "Agus Saputra, S.Kom.",
                 "PEMERINTAH KABUPATEN MUARA ENIM", "DINAS KOMUNIKASI DAN INFORMATIKA",
                 "Sub Koordinator Pengembangan dan Pengelolaan Aplikasi", "Muara Enim, 22 November 2026"):
        assert fact in text, fact
    assert "SURAT LAPORAN HOSTING" in text.upper()
    for label, *_ in STEPS:
        assert label in text, label
    assert "Menyampaikan laporan ke Kabid Penyelenggaraan E-Government" in text
    assert "9f2c4e1ab07d3c55" not in text  # the digest is shown short


def test_hosting_report_marks_each_step_against_its_mutu_baku() -> None:
    text = pdf_text(render_hosting_report(hosting_report()))
    assert text.count("\u2713 Ya") == 5
    assert text.count("\u2717 Tidak") == 1  # the scan took 12 of 10 minutes
    assert "belum selesai" in text  # the Kabid has not acknowledged yet
    assert "Waktu (WIB)" in text
    assert "5 dari 6 langkah yang selesai memenuhi Mutu Baku waktu" in text


def test_hosting_report_text_layer_with_poppler() -> None:
    need(shutil.which("pdftotext") is not None, "poppler-utils")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=render_hosting_report(hosting_report()),
                         capture_output=True, check=True).stdout.decode()
    assert "Surat Laporan Hosting".upper() in out
    assert "HST-2026-0042" in out and "dinkes-simpus" in out


def test_letters_never_carry_a_password() -> None:
    for cls in (HostingReport, ResponseLetter, TimelineRow, Letterhead, Recipient, Signatory):
        names = {f.name.lower() for f in dataclasses.fields(cls)}
        assert not {n for n in names if "pass" in n or "sandi" in n or "secret" in n}, cls
    with pytest.raises(TypeError):
        hosting_report(web_panel_password="Rahasia-2026!")

    for data in (render_hosting_report(hosting_report()), render_response_letter(response_letter())):
        text = pdf_text(data)
        assert "dinkes-simpus" in text or "disdik-ppdb" in text
        assert "password" not in text.lower()
        # "Kata sandi" appears only in the notice that it is handed over separately.
        assert HANDOVER_NOTICE in text
        assert text.lower().count("kata sandi") == text.count(HANDOVER_NOTICE)
        for label in re.finditer(r"kata\s*sandi\s*:?\s*(\S+)", text, re.IGNORECASE):
            assert label.group(1) == "diserahkan", label.group(0)


def test_long_app_name_wraps_and_renders() -> None:
    long_name = " ".join(["Sistem Informasi Terpadu Pelayanan Kesehatan Masyarakat"] * 12)
    unbroken = "x" * 240  # no space to break at
    data = render_hosting_report(hosting_report(
        app_name=long_name,
        opd_name=f"Dinas {unbroken}",
        subdomain="layanan-kesehatan-masyarakat-terpadu-puskesmas-keliling.muaraenimkab.go.id",
    ))
    reader = assert_valid_pdf(data)
    text = pdf_text(data)
    assert "Sistem Informasi Terpadu Pelayanan" in text
    assert "xxxxxxxxxx" in text
    # Every line of text starts inside the text column (no line pushed off the page).
    width = float(reader.pages[0].mediabox.width)
    starts: list[float] = []

    def record(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            starts.append(tm[4] * cm[0] + cm[4])

    for page in reader.pages:
        page.extract_text(visitor_text=record)
    assert starts and min(starts) >= 0 and max(starts) < width - 20
    assert "Agus Saputra, S.Kom." in text  # the signature still follows the tables


def test_unusual_characters_do_not_break_rendering() -> None:
    strange = ("Aplikasi \x00\x07\tBa\u200bru\u202e\ud800 \U0001F600 \u4e2d\u6587 "
               "\u0645\u0631\u062d\u0628\u0627 \u00e9\u0301 <b>*x*</b> %PDF\r\n**tebal**")
    data = render_hosting_report(hosting_report(app_name=strange, opd_name="Dinas \u00c9\u00df\u00f1 & Co.",
                                                web_panel_username="op\u00e9rateur"))
    assert_valid_pdf(data)
    text = pdf_text(data)
    assert "Aplikasi" in text and "<b>*x*</b>" in text and "**tebal**" in text  # no markup is read
    assert "\u202e" not in text


def test_output_is_deterministic() -> None:
    assert render_hosting_report(hosting_report()) == render_hosting_report(hosting_report())
    assert render_response_letter(response_letter()) == render_response_letter(response_letter())


def test_pdf_metadata_dates_from_the_letter() -> None:
    reader = PdfReader(io.BytesIO(render_hosting_report(hosting_report())))
    assert reader.metadata is not None
    assert reader.metadata.creation_date.date() == datetime(2026, 11, 22).date()
    assert reader.metadata.get("/Producer") == "Wadah"


def test_response_letter_approval() -> None:
    data = render_response_letter(response_letter())
    assert_valid_pdf(data)
    text = pdf_text(data)
    for fact in ("PEMERINTAH KABUPATEN BOLAANG MONGONDOW UTARA", "555/DKIP/0311/XI/2026",
                 "Tanggapan atas Permohonan Pembuatan Subdomain", "Kepala Dinas Pendidikan",
                 "421/DISDIK/1120/2026", "10 November 2026", "DISETUJUI", "ppdb.bolmutkab.go.id",
                 "disdik-ppdb", "HST-2026-0051", "Boroko, 24 November 2026", "NIP. 19641024 198603 1 002"):
        assert fact in text, fact


def test_response_letter_refusal_states_the_reason() -> None:
    data = render_response_letter(response_letter(
        approved=False, reason="Rekomendasi Tim Teknis belum dilampirkan.",
        web_panel_url="", web_panel_username="", app_url=""))
    text = pdf_text(data)
    assert "BELUM DAPAT DISETUJUI" in text
    assert "Rekomendasi Tim Teknis belum dilampirkan." in text
    assert "DISETUJUI. Sub-domain" not in text
    with pytest.raises(LetterError):
        response_letter(approved=False, reason=" ")


def test_timeline_is_the_attachment_after_a_complete_first_page() -> None:
    reader = PdfReader(io.BytesIO(render_hosting_report(hosting_report())))
    first, second = (" ".join((page.extract_text() or "").split()) for page in reader.pages[:2])
    assert "Lampiran : 1 (satu) berkas" in first
    assert "NIP." in first and "Tembusan:" in first  # the letter itself fits on one page
    assert second.startswith("LAMPIRAN SURAT LAPORAN HOSTING NOMOR : 500.12/0457/Diskominfo-III/2026")
    assert "Verifikasi dan evaluasi keamanan" in second and "Verifikasi dan evaluasi" not in first


def test_many_steps_flow_onto_more_pages_with_the_signature_whole() -> None:
    long_name = " ".join(["Sistem Informasi Terpadu Pelayanan Kesehatan Masyarakat"] * 6)
    data = render_hosting_report(hosting_report(timeline=timeline() * 6, app_name=long_name))
    reader = assert_valid_pdf(data)
    pages = [" ".join((page.extract_text() or "").split()) for page in reader.pages]
    assert len(pages) >= 4
    signed = [text for text in pages if "NIP." in text]
    assert len(signed) == 2  # the letter and its attachment, each signed
    for text in signed:  # never a signature apart from its name, title and date
        assert "Agus Saputra, S.Kom." in text and "Muara Enim, 22 November 2026" in text
    assert "Demikian laporan ini kami sampaikan" in signed[0]
    assert any(text.startswith("- 2 -") for text in pages)  # continuation pages are numbered
    assert sum(text.count("Langkah SOP") for text in pages) >= 2  # table headings repeat


def test_logo_in_the_letterhead(tmp_path: Path) -> None:
    from PIL import Image

    logo = tmp_path / "lambang.png"
    Image.new("RGB", (120, 140), (200, 30, 30)).save(logo)
    head = dataclasses.replace(MUARA_ENIM, logo=logo)
    reader = assert_valid_pdf(render_hosting_report(hosting_report(letterhead=head)))
    assert len(reader.pages[0].images) == 1
    with pytest.raises(LetterError, match="lambang"):
        render_hosting_report(hosting_report(letterhead=dataclasses.replace(head, logo=tmp_path / "x.png")))


def test_missing_facts_and_fonts_are_reported() -> None:
    with pytest.raises(LetterError, match="request_number"):
        render_hosting_report(hosting_report(request_number=" "))
    with pytest.raises(LetterError, match="fonts-dejavu-core"):
        render_hosting_report(hosting_report(), font_dir=Path("/nonexistent"))
    with pytest.raises(LetterError, match="zona waktu"):
        render_hosting_report(hosting_report(letterhead=dataclasses.replace(MUARA_ENIM, zone="UTC")))


def test_indonesian_dates_and_durations() -> None:
    moment = datetime(2026, 8, 17, 3, 5, tzinfo=UTC)
    assert indonesian.format_date(moment) == "17 Agustus 2026"
    assert indonesian.format_time(moment) == "10.05 WIB"
    assert indonesian.format_time(moment, "WITA") == "11.05 WITA"
    assert indonesian.format_datetime(moment, "WIT") == "17 Agustus 2026 pukul 12.05 WIT"
    assert indonesian.format_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "1 Januari 2027"
    assert [indonesian.format_duration(m) for m in (None, 0, 0.4, 7, 65, 60, 1440, 1440 + 185)] == [
        "-", "0 menit", "< 1 menit", "7 menit", "1 jam 5 menit", "1 jam", "1 hari", "1 hari 3 jam"]
    assert indonesian.verdict_label("review").startswith("Perlu tinjauan")


def test_page_one_renders_to_an_image(tmp_path: Path) -> None:
    need(shutil.which("pdftoppm") is not None, "poppler-utils")
    pdf = tmp_path / "laporan.pdf"
    pdf.write_bytes(render_hosting_report(hosting_report()))
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(tmp_path / "halaman")], check=True, capture_output=True)
    assert (tmp_path / "halaman.png").read_bytes().startswith(b"\x89PNG")
