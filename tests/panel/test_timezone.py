"""PEMDA_TIMEZONE: a WITA instance shows 08.00 for 00.00 UTC on its pages, audit log, exports and letters."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from panel import create_app, formatting
from panel.extensions import db
from panel.models import AuditEvent, RoleKey
from panel.services.documents import hosting_letters, letters
from tests.panel import factories
from tests.support import unavailable

MIDNIGHT_UTC = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def wita(app: Flask) -> Flask:
    app.config["PEMDA_TIMEZONE"] = "WITA"  # read when a time is shown, so set after start is enough
    return app


def test_a_page_shows_wita(wita: Flask, client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    someone = factories.user([RoleKey.TECHNICIAN])
    someone.created_at = MIDNIGHT_UTC
    db.session.commit()
    page = client.get(f"/admin/users/{someone.id}").get_data(as_text=True)
    assert "2 Maret 2026 08.00 WITA" in page and "WIB" not in page


def test_the_audit_log_page_and_its_export_show_wita(wita: Flask, client, login_as) -> None:
    login_as(RoleKey.AUDITOR)
    db.session.add(AuditEvent(at=MIDNIGHT_UTC, actor="system", action="uji.zona", details={}))
    db.session.commit()
    page = client.get("/audit?action=uji.zona").get_data(as_text=True)
    assert "2 Maret 2026 08.00.00 WITA" in page and "Tanggal menurut waktu WITA." in page
    # A day is the Pemda's day: 2 March WITA begins at 16.00 UTC on 1 March.
    assert "08.00.00 WITA" in client.get("/audit?action=uji.zona&from=2026-03-02&to=2026-03-02").get_data(
        as_text=True)
    exported = client.get("/audit/export.csv?action=uji.zona").get_data(as_text=True)
    assert "2026-03-02T08:00:00+08:00" in exported


def test_a_report_export_shows_wita(wita: Flask, client, login_as) -> None:
    login_as(RoleKey.HEAD)
    factories.app(created_at=MIDNIGHT_UTC)
    db.session.commit()
    exported = client.get("/reports/apps.csv?dari=2026-03-02&sampai=2026-03-02").get_data(as_text=True)
    assert "2026-03-02 08:00" in exported


def test_a_letter_shows_wita(wita: Flask) -> None:
    from pypdf import PdfReader

    if not (letters.FONT_DIR / "DejaVuSans.ttf").is_file():
        unavailable("fonts-dejavu-core is not installed")
    head = hosting_letters.letterhead(wita.config)
    assert head.zone == "WITA"
    step = letters.TimelineRow(step="Mengunggah aplikasi ke server", role="Teknisi", actor="Agus",
                               started=MIDNIGHT_UTC, finished=MIDNIGHT_UTC + timedelta(minutes=5),
                               elapsed_minutes=5, mutu_baku_minutes=60, on_time=True)
    report = letters.HostingReport(
        letterhead=head, number="001/HOST/LAP", date=MIDNIGHT_UTC,
        recipient=letters.Recipient(title="Sub Koordinator"), signatory=letters.Signatory("Agus", "Teknisi"),
        request_number="001/HOST", opd_name="Dinas Kesehatan", app_name="SIMPUS",
        subdomain="simpus.contoh.go.id", host_name="node-1", ip="127.0.0.1", scan_verdict="clean",
        release_number=1, artifact_sha256="a" * 64,
        web_panel_username="app-simpus", web_panel_url="https://panel.contoh.go.id/", timeline=(step,))
    pdf = PdfReader(io.BytesIO(letters.render_hosting_report(report)))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in pdf.pages)
    assert "08.00" in text and "pukul 08.05 WITA" in text


def test_wib_is_the_default(app: Flask, client, login_as) -> None:
    assert app.config["PEMDA_TIMEZONE"] == "WIB"
    assert formatting.tanggal(MIDNIGHT_UTC) == "2 Maret 2026 07.00 WIB"


@pytest.mark.parametrize(("setting", "shown"), [("WIT", "09.00 WIT"), ("Asia/Jayapura", "09.00 WIT"),
                                                ("Asia/Makassar", "08.00 WITA"), ("wib", "07.00 WIB")])
def test_the_zone_may_be_named_either_way(app: Flask, setting: str, shown: str) -> None:
    app.config["PEMDA_TIMEZONE"] = setting
    assert formatting.tanggal(MIDNIGHT_UTC).endswith(shown)


def test_an_unknown_zone_stops_the_panel_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PEMDA_TIMEZONE"):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x" * 32,
                    "SECRETS_KEY": Fernet.generate_key().decode(), "PEMDA_TIMEZONE": "Asia/Singapore"})
