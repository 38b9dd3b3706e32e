"""The Bolaang Mongondow Utara hosting SOP end to end on the real testbed, through its capacity-available
branch: the Kadis disposes, the Kabid finds the request complete, the Kasie finds room on a host, the
bundle is scanned, the subdomain allocated, the agent deploys it behind nginx, the app is documented
and the response letter is made and sent."""
from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select

from panel import storage
from panel.extensions import db
from panel.models import App, AttachmentKind, HostingRequest, RequestStatus, RoleKey
from panel.services.infra import hosts
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.support import fetch

pytestmark = pytest.mark.slow


def test_bolmut_request_through_the_capacity_available_branch(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    tmp_path: Path,
) -> None:
    zone, pki = flow.on_testbed(app, testbed, dns_zone)
    app.config.update(DEFAULT_SOP_TEMPLATE="bolmut")
    opd = factories.opd(name="Dinas Pertanian")
    people = {role: factories.user([role], opd=opd if role == RoleKey.OPD_ADMIN else None)
              for role in (RoleKey.OPD_ADMIN, RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN)}
    db.session.commit()
    subdomain = f"bolmut{secrets.token_hex(3)}"
    head, coordinator, technician = (flow.signed_in(app, people[r]) for r in (
        RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN))

    opd_admin = flow.signed_in(app, people[RoleKey.OPD_ADMIN])
    page = opd_admin.get("/requests/new").get_data(as_text=True)
    key = re.search(r'name="submission_key" type="hidden" value="([^"]+)"', page).group(1)
    letters = {f"letter_{kind}": (io.BytesIO(factories.MINIMAL_PDF), f"{kind}.pdf") for kind in (
        "surat_permohonan", "rekomendasi_tim_teknis", "surat_penunjukan_pengelola", "petunjuk_instalasi")}
    filed = opd_admin.post("/requests/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(opd_admin, "/requests/new"), "submission_key": key,
        "app_name": "Informasi Harga Pangan", "subdomain": subdomain, "stack": "static",
        "bundle": (io.BytesIO(flow.site("Harga Pangan")), "pangan.tar.gz"), **letters})
    assert filed.status_code == 302, filed.get_data(as_text=True)
    request = db.session.scalar(select(HostingRequest))
    path = f"/requests/{request.id}"
    # The Kadis's step shows its kelengkapan, which the filing holds.
    assert "Surat permohonan — ada" in head.get(path).get_data(as_text=True)

    with running_agent(pki, "host-bolmut", testbed, tmp_path) as host:
        hosts.refresh_facts(pki, host)
        db.session.commit()
        try:
            flow.post(head, f"{path}/act", note="Disposisi Kadis kepada Kabid")
            flow.post(head, f"{path}/act", decision="ya", note="Persyaratan lengkap")
            flow.post(coordinator, f"{path}/act", decision="tersedia", note="Host host-bolmut cukup")
            db.session.expire_all()
            assert request.current_step == "verifikasi_keamanan", flow.flashes(coordinator, path)
            flow.post(technician, f"{path}/scan")
            flow.post(technician, f"{path}/allocate")
            flow.post(technician, f"{path}/deploy")
            handover = flow.post(technician, f"{path}/web-panel-login")
            assert handover.status_code == 200, flow.flashes(technician, path)
            flow.post(technician, f"{path}/act", note="Laporan dokumentasi aplikasi")
            flow.post(coordinator, f"{path}/response-letter")
            flow.post(coordinator, f"{path}/act", note="Draf surat tanggapan")
            flow.post(head, f"{path}/act", note="Surat tanggapan dikirim")

            db.session.expire_all()
            assert request.status == RequestStatus.CLOSED, flow.flashes(technician, path)
            assert [s.step_key for s in request.steps] == [
                "permohonan", "disposisi_kadis", "periksa_kelengkapan", "cek_kapasitas",
                "verifikasi_keamanan", "alokasi", "instalasi_aplikasi", "dokumentasi_aplikasi",
                "draf_tanggapan", "surat_tanggapan"]
            app_row = db.session.scalar(select(App).where(App.request_id == request.id))
            assert app_row.host_id == host.id
            assert fetch(testbed["nginx"]["http"], app_row.fqdn) == (200, "<h1>Harga Pangan</h1>\n")
            letter = next(a for a in request.attachments if a.kind == AttachmentKind.RESPONSE_LETTER)
            pdf = PdfReader(storage.attachments().path(letter.sha256))
            text = "".join(p.extract_text() for p in pdf.pages)
            assert app_row.fqdn in text and request.number in text
        finally:
            flow.clean_up(pki, host, subdomain, zone)
