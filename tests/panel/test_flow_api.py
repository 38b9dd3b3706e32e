"""The whole Muara Enim SOP through the JSON API alone, on the real testbed: every actor uses a
personal token, every answer is checked against the published OpenAPI document, and the app ends up
answering through nginx with its name in the zone's server."""
from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest
from flask import Flask

from panel.extensions import db
from panel.models import RoleKey
from panel.services.infra import hosts
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.openapi import conforms
from tests.support import fetch

pytestmark = pytest.mark.slow


def test_muara_enim_request_through_the_api(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    opd = factories.opd(name="Dinas Pendidikan")
    tokens = {}
    for role in (RoleKey.OPD_ADMIN, RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN):
        person = factories.user([role], opd=opd if role == RoleKey.OPD_ADMIN else None)
        tokens[role] = {"Authorization": "Bearer " + factories.api_token(person, "otomasi", 7)[1]}
    db.session.commit()
    api = app.test_client()
    subdomain = f"api{secrets.token_hex(3)}"
    marker = f"Lewat API {subdomain}"

    def call(method: str, path: str, role: RoleKey, template: str, **kwargs: Any) -> Any:
        response = api.open(f"/api/v1{path}", method=method, headers=tokens[role], **kwargs)
        body = conforms(response, template, method)
        assert response.status_code < 400, body
        return body

    with running_agent(agents, "host-api", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        db.session.commit()
        try:
            filed = call("POST", "/requests", RoleKey.OPD_ADMIN, "/requests",
                         content_type="multipart/form-data", data={
                             "app_name": "Sistem Informasi Sekolah", "subdomain": subdomain,
                             "stack": "static",
                             "letter_surat_permohonan": (io.BytesIO(factories.MINIMAL_PDF), "surat.pdf"),
                             "bundle": (io.BytesIO(flow.site(marker)), "situs.tar.gz")})
            path, one = f"/requests/{filed['id']}", "/requests/{request_id}"

            call("POST", f"{path}/step", RoleKey.HEAD, one + "/step", json={"note": "Disposisi Kadis"})
            call("POST", f"{path}/step", RoleKey.COORDINATOR, one + "/step",
                 json={"decision": "ya", "note": "Lengkap"})

            scan = call("POST", f"{path}/scan", RoleKey.TECHNICIAN, one + "/scan")
            job = call("GET", f"/jobs/{scan['id']}", RoleKey.TECHNICIAN, "/jobs/{job_id}")
            assert job["status"] == "succeeded", job  # jobs run inline in tests
            state = call("GET", path, RoleKey.TECHNICIAN, one)
            assert state["scan"]["verdict"] == "clean" and state["current_step"] == "cek_ketersediaan"

            allocation = call("POST", f"{path}/allocation", RoleKey.TECHNICIAN, one + "/allocation")
            job = call("GET", f"/jobs/{allocation['id']}", RoleKey.TECHNICIAN, "/jobs/{job_id}")
            assert job["status"] == "succeeded", job
            allocated = call("GET", path, RoleKey.TECHNICIAN, one)["app"]
            assert allocated["fqdn"] == f"{subdomain}.{dns_zone['zone']}" and allocated["host"] == host.name
            deploy = call("POST", f"{path}/deployment", RoleKey.TECHNICIAN, one + "/deployment")
            job = call("GET", f"/jobs/{deploy['id']}", RoleKey.TECHNICIAN, "/jobs/{job_id}")
            assert job["status"] == "succeeded", job

            handover = api.post(f"/api/v1{path}/web-panel-login", headers=tokens[RoleKey.TECHNICIAN])
            login = conforms(handover, one + "/web-panel-login", "post")
            assert handover.status_code == 201 and handover.headers["Cache-Control"] == "no-store"
            assert login["subdomain"] == allocated["fqdn"] and len(login["password"]) >= 12

            call("POST", f"{path}/step", RoleKey.COORDINATOR, one + "/step",
                 json={"note": "Laporan diterima"})
            done = call("POST", f"{path}/step", RoleKey.HEAD, one + "/step", json={"note": "Diterima Kabid"})
            assert done["status"] == "closed"
            assert [row["step"] for row in done["timeline"]] == [
                "mulai", "terima_permohonan", "telaah_koordinasi", "verifikasi_keamanan",
                "cek_ketersediaan", "unggah_aplikasi", "laporan_subkoordinator", "laporan_kabid"]
            assert all(row["finished_at"] and row["actor"] for row in done["timeline"])
            assert {"laporan_pemindaian", "surat_laporan_hosting"} <= {a["kind"] for a in done["attachments"]}
            letter = next(a for a in done["attachments"] if a["kind"] == "surat_laporan_hosting")
            pdf = api.get(f"/api/v1{path}/attachments/{letter['id']}", headers=tokens[RoleKey.OPD_ADMIN])
            assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

            apps = call("GET", "/apps", RoleKey.OPD_ADMIN, "/apps")
            assert [(a["fqdn"], a["status"], a["live_release"]) for a in apps["items"]] == [
                (allocated["fqdn"], "running", 1)]

            assert fetch(testbed["nginx"]["http"], allocated["fqdn"]) == (200, f"<h1>{marker}</h1>\n")
            query = dns.message.make_query(allocated["fqdn"], "A")
            answer = dns.query.tcp(query, dns_zone["host"], port=dns_zone["port"], timeout=5)
            assert [r.address for rrset in answer.answer for r in rrset] == ["127.0.0.1"]
        finally:
            flow.clean_up(agents, host, subdomain, zone)
