"""A month of apps, requests, steps, scans and hosts for the report tests, and how they read a workbook."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime, timedelta
from xml.etree import ElementTree

from panel.extensions import db
from panel.models import AppStatus, HostStatus, RequestStatus, Stack
from panel.models.workflow import RequestStep
from panel.services.reports.periods import Month
from tests.panel import factories

GIB = 2**30
XLSX_NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def instant(month: Month, days: float = 1, minutes: float = 0) -> datetime:
    """An instant `days` and `minutes` after the start of `month` (UTC)."""
    return month.start + timedelta(days=days, minutes=minutes)


def add_step(request, key: str, due: int | None, started: datetime, minutes: float | None) -> RequestStep:
    step = RequestStep(request_id=request.id, step_key=key, role="head", due_minutes=due, started_at=started,
                       finished_at=started + timedelta(minutes=minutes) if minutes is not None else None)
    db.session.add(step)
    return step


def findings_of(*rules: tuple[str, str]) -> dict:
    return {"findings": [{"engine": engine, "rule": rule, "severity": "high", "path": "index.php",
                          "message": "", "verdict": "infected"} for engine, rule in rules]}


def seed(month: Month) -> dict:
    """Apps, requests, steps, scans and hosts around `month`, with the figures they should give."""
    health = factories.opd(name="Dinas Kesehatan")
    school = factories.opd(name="Dinas Pendidikan")
    node = factories.host(name="node-a", status=HostStatus.ONLINE, facts={
        "cpus": 4, "cpus_committed": 2.5, "load_average": [0.5, 0.4, 0.3],
        "memory_total_bytes": 8 * GIB, "memory_available_bytes": 2 * GIB,
        "disk": {"/": {"total_bytes": 20 * GIB, "free_bytes": 18 * GIB},
                 "/var/lib/wadah": {"total_bytes": 100 * GIB, "free_bytes": 40 * GIB}},
    })
    factories.host(name="node-b")  # pending: no facts yet
    factories.host(name="node-old", status=HostStatus.RETIRED)
    factories.app(health, stack=Stack.PHP, host=node, created_at=instant(month, 2))
    factories.app(health, stack=Stack.STATIC, host=node, created_at=instant(month, 3))
    factories.app(school, stack=Stack.STATIC, created_at=instant(month, 4))
    factories.app(health, stack=Stack.PHP, host=node, created_at=instant(month.shifted(-1), 5))
    factories.app(school, status=AppStatus.REMOVED, created_at=instant(month, 2))  # not counted
    factories.app(school, created_at=instant(month.shifted(1), 1))  # registered after the month

    submitted = factories.hosting_request(health, app_name="SIMPEG")
    rejected = factories.hosting_request(school, app_name="E-Rapor")
    earlier = factories.hosting_request(school)
    submitted.submitted_at, rejected.submitted_at = instant(month, 2), instant(month, 3)
    earlier.submitted_at = instant(month.shifted(-1), 3)
    rejected.status = RequestStatus.REJECTED
    add_step(submitted, "terima_permohonan", 5, instant(month, 2), 3)  # on time
    add_step(rejected, "terima_permohonan", 5, instant(month, 3), 5)  # exactly at the limit: on time
    add_step(submitted, "telaah_koordinasi", 10, instant(month, 2, 10), 15)  # late
    add_step(submitted, "verifikasi_keamanan", 10, instant(month, 4), None)  # still open
    add_step(earlier, "terima_permohonan", 5, instant(month.shifted(-1), 3), 1)

    factories.scan_report("clean", started_at=instant(month, 1))
    factories.scan_report("infected", started_at=instant(month, 2), report=findings_of(
        ("php", "php_eval_request"), ("php", "php_eval_request"), ("clamav", "Php.Webshell.Generic")))
    factories.scan_report("review", started_at=instant(month, 3),
                          report=findings_of(("judol", "judol_vocabulary")))
    factories.scan_report("rejected", started_at=instant(month, 4))
    factories.scan_report("clean", started_at=instant(month, 5), report=findings_of(("secrets", "aws_key")))
    factories.scan_report("infected", started_at=instant(month.shifted(-1), 4),
                          report=findings_of(("php", "x")))
    db.session.commit()
    return {"health": health, "school": school}


def xlsx_rows(data: bytes) -> list[list[str]]:
    """Read the first sheet's cells as text, from inline or shared strings."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        shared = []
        if "xl/sharedStrings.xml" in book.namelist():
            strings = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in item.iter(f"{{{XLSX_NS['x']}}}t"))
                      for item in strings.findall("x:si", XLSX_NS)]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{XLSX_NS['x']}}}row"):
        cells: list[str] = []
        for cell in row.findall("x:c", XLSX_NS):
            column = re.match(r"[A-Z]+", cell.get("r", "")).group()
            index = sum((ord(ch) - 64) * 26**n for n, ch in enumerate(reversed(column))) - 1
            cells.extend([""] * (index - len(cells)))
            if cell.get("t") == "inlineStr":
                value = "".join(t.text or "" for t in cell.iter(f"{{{XLSX_NS['x']}}}t"))
            elif cell.get("t") == "s":
                value = shared[int(cell.find("x:v", XLSX_NS).text)]
            else:
                found = cell.find("x:v", XLSX_NS)
                value = found.text if found is not None else ""
            cells.append(value or "")
        rows.append(cells)
    return rows
