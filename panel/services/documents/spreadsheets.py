"""Tables written for spreadsheet programs: CSV streamed in pieces and XLSX written row by row to disk.

Both stay within bounded memory whatever the number of rows, and both keep a text cell that starts
like a formula from being run when the file is opened.
"""
from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, Any

import xlsxwriter

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_CHUNK_ROWS = 1000
DATETIME_FORMAT = "%Y-%m-%d %H:%M"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_DATE_FORMAT = "yyyy-mm-dd"
XLSX_MAX_WIDTH = 60  # characters; wider columns make the sheet unreadable on a laptop screen

Cell = str | int | float | date | datetime | None


def safe_cell(value: str | None) -> str:
    """Return `value` as text a spreadsheet shows as written: a leading quote keeps a formula inert."""
    text = value or ""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Cell]],
               chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[str]:
    """Yield `header` and `rows` as CSV text, one piece per `chunk_rows` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header)
    yield flush()
    pending = 0
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
        pending += 1
        if pending == chunk_rows:
            pending = 0
            yield flush()
    if pending:
        yield flush()


def xlsx_file(sheet: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> IO[bytes]:
    """Write `header` and `rows` to a one-sheet workbook in a temporary file, returned open at its start.

    The file disappears when it is closed. XlsxWriter's constant-memory mode flushes each row to disk
    as soon as the next one starts, so a workbook of any size costs one row of memory.
    """
    target = tempfile.TemporaryFile(suffix=".xlsx")  # the caller closes it once sent
    try:
        workbook = xlsxwriter.Workbook(target, {"constant_memory": True, "strings_to_formulas": False,
                                                "strings_to_urls": False, "strings_to_numbers": False})
        bold = workbook.add_format({"bold": True, "bg_color": "#EEF2F7", "border": 1})
        moment = workbook.add_format({"num_format": XLSX_DATETIME_FORMAT})
        day = workbook.add_format({"num_format": XLSX_DATE_FORMAT})
        worksheet = workbook.add_worksheet(sheet[:31])
        widths = [min(max(len(name) + 2, 12), XLSX_MAX_WIDTH) for name in header]
        for column, width in enumerate(widths):
            worksheet.set_column(column, column, width)
        worksheet.freeze_panes(1, 0)
        worksheet.write_row(0, 0, header, bold)
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime):
                    worksheet.write_datetime(number, column, value.replace(tzinfo=None), moment)
                elif isinstance(value, date):
                    worksheet.write_datetime(number, column, value, day)
                elif isinstance(value, int | float):
                    worksheet.write_number(number, column, value)
                else:
                    worksheet.write_string(number, column, safe_cell(str(value)))
        if widths:
            worksheet.autofilter(0, 0, 0, len(widths) - 1)
        workbook.close()
        target.seek(0)
    except BaseException:
        target.close()
        raise
    return target


def _csv_value(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    return safe_cell(str(value))
