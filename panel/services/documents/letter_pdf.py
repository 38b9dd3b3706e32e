"""The page every official letter is set on: an A4 PDF with the kop surat and the shared blocks."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace, TTFFont

from panel.services.documents.indonesian import LetterError, format_date, format_duration, step_span, zone_of

# Debian's fonts-dejavu-core: a Unicode TrueType family embedded (subset) in every letter.
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FONT = "dejavu"

# Page geometry in millimetres (A4, margins after the Tata Naskah Dinas habit: wider on the left).
LEFT, TOP, RIGHT, BOTTOM = 25.0, 13.0, 20.0, 15.0
BODY_PT, SMALL_PT, TABLE_PT = 10.0, 8.5, 8.5
LINE = 5.0  # body line height
SIGNING_SPACE = 20.0  # room for the wet signature and the stamp
COPY_PT, COPY_LINE = 9.0, 4.4
GREEN, RED, GREY = (0, 110, 40), (180, 20, 20), (90, 90, 90)
HEADING_FILL = (228, 232, 238)
LABEL_FILL = (244, 246, 249)


@dataclass(frozen=True)
class Letterhead:
    """The issuing office (kop surat) and where and in which time zone the letter is signed."""

    pemda: str  # "Kabupaten Muara Enim", "Kota Batam"
    dinas: str  # "Dinas Komunikasi dan Informatika"
    address: str
    city: str  # place in the signature line: "Muara Enim, 22 November 2026"
    unit: str = ""  # optional bidang line under the dinas
    contact: str = ""  # telephone, website, e-mail
    zone: str = "WIB"
    logo: Path | None = None  # lambang daerah, PNG or JPEG


@dataclass(frozen=True)
class Recipient:
    title: str  # "Sub Koordinator Pengembangan dan Pengelolaan Aplikasi", "Kepala Dinas Kesehatan"
    name: str = ""
    place: str = "Tempat"


@dataclass(frozen=True)
class Signatory:
    name: str
    title: str
    rank: str = ""  # pangkat/golongan
    nip: str = ""  # blank prints a dotted placeholder to fill in by hand


@dataclass(frozen=True)
class TimelineRow:
    """One SOP step as it happened, against its Mutu Baku."""

    step: str
    role: str
    actor: str
    started: datetime | None
    finished: datetime | None
    elapsed_minutes: float | None = None  # computed from started/finished when None
    mutu_baku_minutes: float | None = None
    on_time: bool | None = None  # None: not finished yet, or the step has no time limit


class Letter(FPDF):
    """An A4 page set with the embedded font, the kop surat, and the blocks every letter shares."""

    def __init__(self, head: Letterhead, date: datetime, title: str, font_dir: Path) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.head = head
        zone = zone_of(head.zone)
        self.set_margins(LEFT, TOP, RIGHT)
        self.set_auto_page_break(auto=True, margin=BOTTOM)
        for style, name in FONT_FILES.items():
            path = font_dir / name
            if not path.is_file():
                raise LetterError(f"fon {path} tidak ada (paket Debian fonts-dejavu-core)")
            self.add_font(FONT, style, str(path))
        regular, bold = (set(cast(TTFFont, self.fonts[FONT + style]).cmap) for style in FONT_FILES)
        self.glyphs = regular & bold  # what both weights can draw
        self.unnumbered: set[int] = set()
        # Fixed metadata so the same letter renders to the same bytes.
        moment = date if date.tzinfo else date.replace(tzinfo=zone)
        self.set_creation_date(moment)
        self.set_producer("Wadah")
        self.set_creator("Wadah")
        self.set_author(self.clean(f"{head.dinas} {head.pemda}"))
        self.set_title(self.clean(title))
        self.set_lang("id-ID")
        self.set_font(FONT, size=BODY_PT)
        self.set_text_color(0)
        self.set_draw_color(0)

    def header(self) -> None:
        # Continuation pages carry their number at the top, as Indonesian letters do; an attachment
        # starts with its own heading instead.
        if self.page_no() > 1 and self.page_no() not in self.unnumbered:
            self.set_font(FONT, size=SMALL_PT)
            self.set_y(8)
            self.cell(0, 5, f"- {self.page_no()} -", align=Align.C)
            self.set_y(self.t_margin)
            self.set_font(FONT, size=BODY_PT)

    def clean(self, text: object, multiline: bool = False) -> str:
        """Return user text the font can draw: no control or format characters, no missing glyphs."""
        out = []
        for char in unicodedata.normalize("NFC", str(text)):
            category = unicodedata.category(char)
            if char == "\n" and multiline:
                out.append(char)
            elif category in ("Cc", "Zl", "Zp"):
                out.append(" ")
            elif category in ("Cf", "Cs", "Co", "Cn"):
                continue  # zero-width and bidi controls could disguise the text; surrogates cannot be drawn
            elif ord(char) in self.glyphs:
                out.append(char)
            else:
                out.append("\ufffd")
        text = "".join(out)
        lines = [" ".join(line.split()) for line in text.split("\n")]
        return "\n".join(lines).strip()

    def paragraph(self, text: str, *, gap: float = 2.5) -> None:
        self.multi_cell(0, LINE, self.clean(text, multiline=True), align=Align.J,
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(gap)

    def kop(self) -> None:
        """Draw the letterhead: government, dinas, unit, address, then the double rule."""
        head = self.head
        text_left, text_width = self.l_margin, self.epw
        top = self.get_y()
        if head.logo is not None:
            try:
                self.image(str(head.logo), x=self.l_margin, y=top, h=24)
            except (OSError, ValueError) as error:
                raise LetterError(f"lambang daerah {head.logo} tidak dapat dibaca: {error}") from error
            text_left, text_width = self.l_margin + 22, self.epw - 44  # keep the text centred
        lines = [
            (f"PEMERINTAH {head.pemda}".upper(), "B", 14.0, 6.6),
            (head.dinas.upper(), "B", 16.0, 7.4),
            (head.unit.upper(), "B", 11.0, 5.4),
            (head.address, "", 9.0, 4.4),
            (head.contact, "", 9.0, 4.4),
        ]
        for text, style, size, height in lines:
            text = self.clean(text)
            if not text:
                continue
            # A long name is set a little smaller to stay on one line; past that it wraps.
            smallest = max(0.8 * size, 7.5)
            room = text_width - 2 * self.c_margin - 1
            while size - 0.5 >= smallest and self.string_width_at(text, style, size) > room:
                size -= 0.5
            self.set_font(FONT, style, size)
            self.set_x(text_left)
            self.multi_cell(text_width, height, text, align=Align.C,
                            new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        rule = max(self.get_y() + 2, top + 26 if head.logo is not None else 0)
        self.set_line_width(0.9)
        self.line(self.l_margin, rule, self.w - self.r_margin, rule)
        self.set_line_width(0.25)
        self.line(self.l_margin, rule + 1.1, self.w - self.r_margin, rule + 1.1)
        self.set_line_width(0.2)
        self.set_y(rule + 5)
        self.set_font(FONT, "", BODY_PT)

    def string_width_at(self, text: str, style: str, size: float) -> float:
        self.set_font(FONT, style, size)
        return self.get_string_width(text)

    def height_of(self, width: float, text: str, style: str = "", size: float = BODY_PT,
                  line: float = LINE) -> float:
        """Return the height `text` takes wrapped to `width`, without drawing it."""
        self.set_font(FONT, style, size)
        lines = cast(list[str], self.multi_cell(width, line, text, dry_run=True, output="LINES"))
        self.set_font(FONT, "", BODY_PT)
        return line * max(1, len(lines))

    def title_block(self, title: str, subtitle: str = "") -> None:
        self.set_font(FONT, "BU", 12.5)
        self.multi_cell(0, 6.5, self.clean(title).upper(), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if subtitle:
            self.set_font(FONT, "", BODY_PT)
            self.multi_cell(0, LINE, self.clean(subtitle), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", BODY_PT)
        self.ln(4)

    def fields(self, rows: Iterable[tuple[str, str]], label_width: float = 24) -> None:
        """Draw "Nomor : …" style rows whose values wrap under themselves."""
        for label, value in rows:
            y = self.get_y()
            self.cell(label_width, LINE, label)
            self.cell(4, LINE, ":")
            self.multi_cell(self.epw - label_width - 4, LINE, self.clean(value) or "-", align=Align.L,
                            new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_y(max(self.get_y(), y + LINE))
        self.set_font(FONT, "", BODY_PT)
        self.ln(4)

    def recipient(self, to: Recipient) -> None:
        self.cell(10, LINE, "Yth.")
        self.multi_cell(min(125.0, self.epw - 10), LINE, self.clean(to.title), align=Align.L,
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if to.name.strip():
            self.set_x(self.l_margin + 10)
            self.multi_cell(min(125.0, self.epw - 10), LINE, self.clean(to.name), align=Align.L,
                            new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_x(self.l_margin + 10)
        self.cell(0, LINE, "di -", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_x(self.l_margin + 20)
        self.multi_cell(min(115.0, self.epw - 20), LINE, self.clean(to.place) or "Tempat", align=Align.L,
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(4)

    def facts(self, rows: Sequence[tuple[str, str]]) -> None:
        """Draw a two-column table of labelled facts; long values wrap inside their cell."""
        self.set_font(FONT, "", TABLE_PT + 0.5)
        label_style = FontFace(emphasis="BOLD", fill_color=LABEL_FILL)
        with self.table(col_widths=(50, self.epw - 50), width=self.epw, first_row_as_headings=False,
                        align=Align.L,
                        text_align=(Align.L, Align.L), v_align="TOP", line_height=4.2,
                        padding=(1.0, 2), borders_layout="ALL") as table:
            for label, value in rows:
                row = table.row()
                row.cell(self.clean(label), style=label_style)
                row.cell(self.clean(value, multiline=True) or "-")
        self.set_font(FONT, "", BODY_PT)
        self.ln(4)

    def timeline(self, rows: Sequence[TimelineRow]) -> None:
        zone = self.head.zone
        self.set_font(FONT, "", TABLE_PT)
        heads = ("No", "Langkah SOP", "Pelaksana", f"Waktu ({zone})", "Durasi", "Mutu Baku", "Tepat waktu")
        widths = (7, 48, 36, 25, 17, 16, 16)
        align = (Align.C, Align.L, Align.L, Align.C, Align.C, Align.C, Align.C)
        with self.table(col_widths=widths, width=self.epw, align=Align.L, text_align=align,
                        v_align="MIDDLE", line_height=3.9, padding=(1.2, 1.2), repeat_headings=1,
                        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
                        borders_layout="ALL") as table:
            heading = table.row()
            for text in heads:
                heading.cell(text, align=Align.C)
            for number, item in enumerate(rows, start=1):
                row = table.row()
                row.cell(str(number))
                row.cell(self.clean(item.step))
                who = "\n".join(self.clean(part) for part in (item.role, item.actor) if part.strip())
                row.cell(who or "-")
                row.cell(step_span(item.started, item.finished, zone))
                row.cell(format_duration(elapsed_minutes(item)))
                row.cell(format_duration(item.mutu_baku_minutes))
                mark, style = _on_time_mark(item)
                row.cell(mark, align=Align.C, style=style)
        self.set_font(FONT, "", BODY_PT)
        self.ln(2)

    def closing(self, text: str, sign: Signatory, date: datetime, copies: Sequence[str] = ()) -> None:
        """Draw the closing paragraph, the signature block and the copies, moved whole to a new page
        when they do not fit, so a signature never stands alone or apart from its letter."""
        width = 80.0
        place = f"{self.clean(self.head.city)}, {format_date(date, self.head.zone)}"
        title, name, rank = self.clean(sign.title), self.clean(sign.name), self.clean(sign.rank)
        nip = f"NIP. {self.clean(sign.nip) or '.' * 30}"
        text = self.clean(text, multiline=True)
        copies = [self.clean(copy) for copy in copies]
        needed = (3 + self.height_of(width, place) + self.height_of(width, title) + SIGNING_SPACE
                  + self.height_of(width, name, "B") + (self.height_of(width, rank) if rank else 0) + LINE)
        if text:
            needed += self.height_of(self.epw, text) + 2.5
        if copies:
            needed += 4 + COPY_LINE + sum(
                self.height_of(self.epw - 6, copy, size=COPY_PT, line=COPY_LINE) for copy in copies)
        if self.get_y() + needed > self.page_break_trigger:
            self.add_page()
        if text:
            self.paragraph(text)
        self.ln(3)
        x = self.w - self.r_margin - width
        for value, style, space_after in ((place, "", 0.0), (title, "", SIGNING_SPACE), (name, "BU", 0.0),
                                          (rank, "", 0.0), (nip, "", 0.0)):
            if not value:
                continue
            self.set_font(FONT, style, BODY_PT)
            self.set_x(x)
            self.multi_cell(width, LINE, value, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(space_after)
        if copies:
            self.ln(4)
            self.set_font(FONT, "", COPY_PT)
            self.cell(0, COPY_LINE, "Tembusan:", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            for number, copy in enumerate(copies, start=1):
                self.cell(6, COPY_LINE, f"{number}.")
                self.multi_cell(self.epw - 6, COPY_LINE, copy, align=Align.L,
                                new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", BODY_PT)

    def attachment_head(self, of: str, number: str, date: datetime) -> None:
        """Start a new page headed as the attachment (lampiran) of the letter `of`."""
        self.unnumbered.add(self.page_no() + 1)
        self.add_page()
        x = self.w - self.r_margin - 80
        self.set_font(FONT, "", SMALL_PT + 0.5)
        for line in ("LAMPIRAN", of.upper()):
            self.set_x(x)
            self.multi_cell(80, 4.4, line, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for label, value in (("NOMOR", self.clean(number)), ("TANGGAL", format_date(date, self.head.zone))):
            self.set_x(x)
            self.cell(18, 4.4, label)
            self.cell(3, 4.4, ":")
            self.multi_cell(59, 4.4, value, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", BODY_PT)
        self.ln(6)

    def indented(self, text: str, indent: float = 10.0) -> None:
        self.set_x(self.l_margin + indent)
        self.multi_cell(self.epw - indent, LINE, self.clean(text, multiline=True), align=Align.L,
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2.5)

    def note(self, text: str) -> None:
        self.set_font(FONT, "", SMALL_PT)
        self.set_text_color(*GREY)
        self.multi_cell(0, 4, self.clean(text), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.set_font(FONT, "", BODY_PT)

    def finish(self) -> bytes:
        return bytes(self.output())


def _on_time_mark(row: TimelineRow) -> tuple[str, FontFace | None]:
    if row.on_time is True:
        return "\u2713 Ya", FontFace(color=GREEN, emphasis="BOLD")
    if row.on_time is False:
        return "\u2717 Tidak", FontFace(color=RED, emphasis="BOLD")
    return ("-" if row.finished else "belum selesai"), None


def elapsed_minutes(row: TimelineRow) -> float | None:
    """Return the minutes the step took, as given or from its start and end."""
    if row.elapsed_minutes is not None:
        return row.elapsed_minutes
    if row.started and row.finished:
        return (row.finished - row.started).total_seconds() / 60
    return None
