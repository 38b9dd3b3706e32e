"""The whole Muara Enim SOP, end to end on the real testbed: an OPD files a request, the chain of
dispositions passes it on, the bundle is scanned by ClamAV and the rules, the subdomain is checked in
the zone and allocated, the agent deploys it behind nginx, the name is added by RFC 2136, the Web
Panel login is issued once, the hosting report letter is made, and every step is timed."""
from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select

from panel import storage
from panel.extensions import db
from panel.models import (
    App,
    AppStatus,
    AttachmentKind,
    AuditEvent,
    HostingRequest,
    RequestStatus,
    RoleKey,
)
from panel.services.infra import hosts
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.support import fetch

pytestmark = pytest.mark.slow


def test_muara_enim_request_from_letter_to_hosting_report(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    opd = factories.opd(name="Dinas Kesehatan")
    people = {role: factories.user([role], opd=opd if role == RoleKey.OPD_ADMIN else None,
                                   full_name=f"Petugas {role}")
              for role in (RoleKey.OPD_ADMIN, RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN)}
    db.session.commit()
    subdomain = f"uji{secrets.token_hex(3)}"
    marker = f"Halo dari {subdomain}"

    with running_agent(agents, "host-uji", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        db.session.commit()
        try:
            # 1 Mulai: the OPD files its letter and bundle.
            opd_admin = flow.signed_in(app, people[RoleKey.OPD_ADMIN])
            page = opd_admin.get("/requests/new").get_data(as_text=True)
            key = re.search(r'name="submission_key" type="hidden" value="([^"]+)"', page).group(1)
            filed = opd_admin.post("/requests/new", content_type="multipart/form-data", data={
                "csrf_token": csrf_token(opd_admin, "/requests/new"), "submission_key": key,
                "app_name": "Sistem Informasi Puskesmas", "subdomain": subdomain, "stack": "static",
                "letter_surat_permohonan": (io.BytesIO(factories.MINIMAL_PDF), "surat.pdf"),
                "bundle": (io.BytesIO(flow.site(marker)), "situs.tar.gz")})
            assert filed.status_code == 302, filed.get_data(as_text=True)
            request = db.session.scalar(select(HostingRequest))
            path = f"/requests/{request.id}"

            # 2–3: the Kabid receives it with the Kadis disposition; the Sub Koordinator reviews it.
            head = flow.signed_in(app, people[RoleKey.HEAD])
            flow.post(head, f"{path}/act", note="Disposisi Kadis: proses sesuai SOP")
            coordinator = flow.signed_in(app, people[RoleKey.COORDINATOR])
            flow.post(coordinator, f"{path}/act", decision="ya", note="Sudah dikoordinasikan dengan OPD")

            # 4–6: the technician scans, allocates, deploys and issues the Web Panel login.
            technician = flow.signed_in(app, people[RoleKey.TECHNICIAN])
            flow.post(technician, f"{path}/scan")
            db.session.expire_all()
            assert request.current_step == "cek_ketersediaan", flow.flashes(technician, path)
            flow.post(technician, f"{path}/allocate")
            db.session.expire_all()
            assert request.current_step == "unggah_aplikasi", flow.flashes(technician, path)
            flow.post(technician, f"{path}/deploy")
            handover = flow.post(technician, f"{path}/web-panel-login")
            assert handover.status_code == 200, flow.flashes(technician, path)
            shown = handover.get_data(as_text=True)
            password = re.search(r'<code class="secret">([^<]+)</code>', shown).group(1)
            assert handover.headers["Cache-Control"] == "no-store"

            # 7–8: the report goes to the Sub Koordinator, then to the Kabid.
            flow.post(coordinator, f"{path}/act", note="Laporan diterima")
            flow.post(head, f"{path}/act", note="Laporan diterima Kabid")

            db.session.expire_all()
            app_row = db.session.scalar(select(App).where(App.request_id == request.id))
            assert request.status == RequestStatus.CLOSED
            assert app_row.status == AppStatus.RUNNING and app_row.host_id == host.id

            # The app answers at http://<sub>.<zone>/ through nginx, and its name resolves.
            assert fetch(testbed["nginx"]["http"], app_row.fqdn) == (200, f"<h1>{marker}</h1>\n")
            query = dns.message.make_query(app_row.fqdn, "A")
            answer = dns.query.tcp(query, dns_zone["host"], port=dns_zone["port"], timeout=5)
            assert [r.address for rrset in answer.answer for r in rrset] == ["127.0.0.1"]

            # Every step was timed against its Mutu Baku.
            keys = [step.step_key for step in request.steps]
            assert keys == ["mulai", "terima_permohonan", "telaah_koordinasi", "verifikasi_keamanan",
                            "cek_ketersediaan", "unggah_aplikasi", "laporan_subkoordinator", "laporan_kabid"]
            assert all(step.finished_at is not None and step.actor_id for step in request.steps)
            assert [s.due_minutes for s in request.steps] == [None, 5, 10, 10, 5, 60, 10, 5]

            # The letters: scan report and hosting report, with the username but never the password.
            kinds = {a.kind for a in request.attachments}
            assert {AttachmentKind.SCAN_REPORT, AttachmentKind.HOSTING_REPORT} <= kinds
            letter = next(a for a in request.attachments if a.kind == AttachmentKind.HOSTING_REPORT)
            pdf = PdfReader(storage.attachments().path(letter.sha256))
            text = "".join(page.extract_text() for page in pdf.pages)
            assert app_row.fqdn in text and app_row.account.user.username in text and request.number in text
            assert password not in text

            # The password is shown once: stored only as a hash, in no audit event, changed at first login.
            web_panel = app_row.account.user
            assert web_panel.must_change_password and password not in web_panel.password_hash
            assert not any(password in str(e.details) for e in db.session.scalars(select(AuditEvent)))
            panel_login = app.test_client()
            response = panel_login.post("/login", data={"username": web_panel.username, "password": password,
                                                        "csrf_token": csrf_token(panel_login, "/login")})
            assert response.status_code == 302
            assert panel_login.get("/").location.endswith("/account/password")
        finally:
            flow.clean_up(agents, host, subdomain, zone)
