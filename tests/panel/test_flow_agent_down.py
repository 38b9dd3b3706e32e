"""A deploy whose host agent does not answer: the step stays open with a clear error, nothing is
half-made (no live release, no DNS name, no container), and a retry once the agent is back succeeds."""
from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import App, AppStatus, HostingRequest, Job, JobStatus, ReleaseStatus, RoleKey
from panel.services.infra import dns as wadah_dns
from panel.services.infra import hosts
from tests.panel import factories, flow
from tests.panel.agent import free_port, running_agent
from tests.panel.conftest import csrf_token
from tests.support import fetch

pytestmark = pytest.mark.slow


def test_deploy_to_an_unreachable_agent_keeps_the_step_open_and_can_be_retried(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"putus{secrets.token_hex(3)}"
    marker = f"Setelah agen kembali {subdomain}"

    with running_agent(agents, "host-putus", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain)
        technician = flow.signed_in(app, technician_user)
        path = f"/requests/{filed.id}"
        try:
            uploaded = technician.post(f"{path}/bundle", content_type="multipart/form-data", data={
                "csrf_token": csrf_token(technician, path),
                "bundle": (io.BytesIO(flow.site(marker)), "situs.tar.gz")})
            assert uploaded.status_code == 302 and filed.artifact_sha256, flow.flashes(technician, path)
            flow.post(technician, f"{path}/scan")
            flow.post(technician, f"{path}/allocate")
            db.session.expire_all()
            assert filed.current_step == "unggah_aplikasi", flow.flashes(technician, path)

            # The agent stops answering: its address now leads to a port where nothing listens.
            reachable = host.agent_url
            host.agent_url = f"https://127.0.0.1:{free_port()}"
            db.session.commit()
            flow.post(technician, f"{path}/deploy")
            db.session.expire_all()
            job = db.session.scalar(select(Job).where(Job.kind == "deploy").order_by(Job.id.desc()))
            assert job.status == JobStatus.FAILED and "tidak dapat dihubungi" in (job.error or job.message)
            request = db.session.get(HostingRequest, filed.id)
            assert request.current_step == "unggah_aplikasi"  # the step stays open
            app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
            assert app_row.status != AppStatus.RUNNING
            assert [r.status for r in app_row.releases] == [ReleaseStatus.FAILED]
            assert not wadah_dns.name_exists(wadah_dns.ZoneAccess.from_zone(zone), subdomain)
            page = technician.get(path).get_data(as_text=True)
            assert "tidak dapat dihubungi" in page  # the technician sees why

            # The agent is back: the same button deploys, and the app answers.
            host.agent_url = reachable
            db.session.commit()
            with agents.client(host) as agent:
                assert app_row.name not in {a["name"] for a in agent.apps()}  # nothing half-made
            flow.post(technician, f"{path}/deploy")
            db.session.expire_all()
            retry = db.session.scalar(select(Job).where(Job.kind == "deploy").order_by(Job.id.desc()))
            assert retry.id != job.id and retry.status == JobStatus.SUCCEEDED, retry.error
            assert app_row.status == AppStatus.RUNNING
            assert [r.status for r in app_row.releases] == [ReleaseStatus.FAILED, ReleaseStatus.LIVE]
            assert fetch(testbed["nginx"]["http"], app_row.fqdn) == (200, f"<h1>{marker}</h1>\n")
            assert flow.post(technician, f"{path}/web-panel-login").status_code == 200
            db.session.expire_all()
            assert request.current_step == "laporan_subkoordinator"  # the step closed on the retry
        finally:
            flow.clean_up(agents, host, subdomain, zone)
