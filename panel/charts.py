"""Charts drawn as SVG on the server: no script, no style attribute, the same picture in a page and a PDF.

The Content-Security-Policy forbids inline styles, so colours, sizes and fonts are presentation
attributes. The font list names the PDF's embedded family first, so fpdf2 draws the text with it;
a browser skips that name and uses the page's font. Each chart carries a <title> and a <desc> and
is meant to sit above a table of the same figures, for readers who cannot see it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from panel.formatting import angka

WIDTH = 640
FONT_FAMILY = "dejavu, DejaVu Sans, sans-serif"
FONT_SIZE = 12
INK, MUTED, GRID = "#1d2433", "#5b6474", "#d8dde6"
# Each colour is at least 4.5:1 against white, and every series is named in a legend as well.
PALETTE = ("#0b5cab", "#b35c00", "#1e6b32", "#6b3fa0")
CHAR_WIDTH = 7.3  # rough width of one character at FONT_SIZE, to size the label column
LABEL_MAX_CHARS = 34
BAR_HEIGHT, BAR_GAP, GROUP_GAP = 16, 2, 10
LEGEND_HEIGHT = 22


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per label; None draws nothing and reads as '—'."""

    name: str
    values: Sequence[float | None]


def bar_chart(ident: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series],
              *, unit: str = "", maximum: float | None = None, decimals: int = 0) -> Markup:
    """Draw horizontal bars, one group per label and one bar per series, each with its value written."""
    label_width = min(max((len(label) for label in labels), default=0), LABEL_MAX_CHARS) * CHAR_WIDTH + 16
    value_room = 64
    left, right = label_width, WIDTH - value_room
    top = LEGEND_HEIGHT if len(series) > 1 else 4
    group = len(series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    height = top + len(labels) * (group + GROUP_GAP) + 4
    top_value = maximum or max((v for s in series for v in s.values if v), default=0) or 1
    parts = [_legend(series)] if len(series) > 1 else []
    for row, label in enumerate(labels):
        y = top + row * (group + GROUP_GAP)
        parts.append(f'<text x="{left - 8}" y="{y + group / 2 + 4:.1f}" text-anchor="end" fill="{INK}">'
                     f"{_short(label)}</text>")
        for index, item in enumerate(series):
            value = item.values[row]
            bar_y = y + index * (BAR_HEIGHT + BAR_GAP)
            length = 0.0 if value is None else max(0.0, min(value, top_value)) / top_value * (right - left)
            if length:
                parts.append(f'<rect x="{left}" y="{bar_y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
                             f'fill="{PALETTE[index % len(PALETTE)]}"/>')
            parts.append(f'<text x="{left + length + 4:.1f}" y="{bar_y + BAR_HEIGHT - 4}" fill="{INK}">'
                         f"{escape(_value(value, unit, decimals))}</text>")
    parts.append(f'<line x1="{left}" y1="{top - 2}" x2="{left}" y2="{height - 2}" stroke="{MUTED}"/>')
    return _svg(ident, title, description, height, parts)


def line_chart(ident: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series],
               *, unit: str = "", maximum: float | None = None, decimals: int = 0) -> Markup:
    """Draw one line per series across `labels` (e.g. months) on a scale from zero, each point labelled.

    A label may hold a line break ('Jan\\n2026'); a missing value breaks the line.
    """
    height = 260
    left, right = 48, WIDTH - 16
    top, bottom = (LEGEND_HEIGHT + 14 if len(series) > 1 else 18), height - 40
    top_value = maximum or max((v for s in series for v in s.values if v), default=0) or 1
    step = (right - left) / max(len(labels), 1)
    parts = [_legend(series)] if len(series) > 1 else []

    def x_of(index: int) -> float:
        return left + step * (index + 0.5)

    def y_of(value: float) -> float:
        return bottom - max(0.0, min(value, top_value)) / top_value * (bottom - top)

    for tick in range(5):
        level = top_value * tick / 4
        y = y_of(level)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">'
                     f"{escape(_value(level, unit, 0))}</text>")
    for index, label in enumerate(labels):
        for line, text in enumerate(label.split("\n")):
            parts.append(f'<text x="{x_of(index):.1f}" y="{bottom + 16 + 14 * line}" text-anchor="middle" '
                         f'fill="{INK}">{_short(text)}</text>')
    for number, item in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        run: list[str] = []
        for index, value in enumerate([*item.values, None]):
            if value is not None:
                run.append(f"{x_of(index):.1f},{y_of(value):.1f}")
                continue
            if len(run) > 1:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                             f'stroke-width="2.5"/>')
            run = []
        for index, value in enumerate(item.values):
            if value is None:
                continue
            x, y = x_of(index), y_of(value)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
            parts.append(f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle" fill="{INK}">'
                         f"{escape(_value(value, unit, decimals))}</text>")
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>')
    return _svg(ident, title, description, height, parts)


def trend_chart(ident: str, title: str, description: str, labels: Sequence[str], series: Sequence[Series],
                *, unit: str = "", maximum: float | None = None, decimals: int = 0, ticks: int = 6) -> Markup:
    """Draw dense lines over time (e.g. a week of samples): no dot or value per point, `ticks` axis labels.

    The scale starts at zero and its top is written; a missing value breaks the line.
    """
    height = 240
    left, right = 64, WIDTH - 16
    top, bottom = (LEGEND_HEIGHT + 10 if len(series) > 1 else 12), height - 28
    top_value = maximum or max((v for s in series for v in s.values if v), default=0) or 1
    step = (right - left) / max(len(labels) - 1, 1)
    parts = [_legend(series)] if len(series) > 1 else []

    def y_of(value: float) -> float:
        return bottom - max(0.0, min(value, top_value)) / top_value * (bottom - top)

    for tick in range(5):
        level = top_value * tick / 4
        parts.append(f'<line x1="{left}" y1="{y_of(level):.1f}" x2="{right}" y2="{y_of(level):.1f}" '
                     f'stroke="{GRID}"/><text x="{left - 6}" y="{y_of(level) + 4:.1f}" text-anchor="end" '
                     f'fill="{MUTED}">{escape(_value(level, unit, decimals))}</text>')
    shown = sorted({round(i * (len(labels) - 1) / max(ticks - 1, 1)) for i in range(ticks)}) if labels else []
    for index in shown:
        last = index == len(labels) - 1
        anchor = "start" if index == 0 and not last else "end" if last and index else "middle"
        parts.append(f'<text x="{left + step * index:.1f}" y="{bottom + 18}" text-anchor="{anchor}" '
                     f'fill="{INK}">{_short(labels[index])}</text>')
    for number, item in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        run: list[str] = []
        for index, value in enumerate([*item.values, None]):
            if value is not None:
                run.append(f"{left + step * index:.1f},{y_of(value):.1f}")
                continue
            if len(run) == 1:  # a lone sample has no line to be part of
                x, y = run[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                             f'stroke-width="2"/>')
            run = []
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{MUTED}"/>')
    return _svg(ident, title, description, height, parts)


def for_print(chart: Markup) -> bytes:
    """Return the chart as SVG bytes for a PDF: without <title>/<desc>, which the PDF's tables replace."""
    return re.sub(r"<(title|desc)\b[^>]*>.*?</\1>", "", str(chart), flags=re.DOTALL).encode()


def _svg(ident: str, title: str, description: str, height: int | float, parts: list[str]) -> Markup:
    ident = re.sub(r"[^A-Za-z0-9_-]", "-", ident)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{ident}" role="img" '
            f'aria-labelledby="{ident}-title {ident}-desc" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}">'
            f'<title id="{ident}-title">{escape(title)}</title>'
            f'<desc id="{ident}-desc">{escape(description)}</desc>'
            f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>')
    return Markup(head + "".join(parts) + "</svg>")  # noqa: S704 - every text above went through escape()


def _legend(series: Sequence[Series]) -> str:
    parts, x = [], 8.0
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="4" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="14" fill="{INK}">{escape(item.name)}</text>')
        x += 16 + len(item.name) * CHAR_WIDTH + 20
    return "".join(parts)


def _short(label: str) -> Markup:
    text = label if len(label) <= LABEL_MAX_CHARS else label[:LABEL_MAX_CHARS - 1].rstrip() + "…"
    return escape(text)


def _value(value: float | None, unit: str, decimals: int) -> str:
    if value is None:
        return "—"
    return f"{angka(value, decimals)}{unit}"
