"""A deploy whose release goes live while the zone's DNS server does not answer: the release serves,
the job succeeds and says the name is not yet in the zone, and the step can go on."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import App, AppStatus, Job, JobStatus, ReleaseStatus, RoleKey
from panel.services.infra import dns as wadah_dns
from panel.services.infra import hosts
from tests.panel import factories, flow
from tests.panel.agent import free_port, running_agent
from tests.support import fetch

pytestmark = pytest.mark.slow


def test_a_live_release_whose_name_the_dns_server_refuses_is_reported_not_failed(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"tanpadns{secrets.token_hex(3)}"
    marker = f"Tanpa DNS {subdomain}"

    with running_agent(agents, "host-tanpa-dns", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain)
        technician = flow.signed_in(app, technician_user)
        path = f"/requests/{filed.id}"
        answering = zone.primary_server
        try:
            flow.upload_scan_allocate(technician, filed, flow.site(marker))
            db.session.expire_all()
            assert filed.current_step == "unggah_aplikasi", flow.flashes(technician, path)
            # The zone's server stops answering once the name was found free.
            zone.primary_server = f"127.0.0.1:{free_port()}"
            db.session.commit()
            flow.post(technician, f"{path}/deploy")
            db.session.expire_all()

            job = db.session.scalar(select(Job).where(Job.kind == "deploy").order_by(Job.id.desc()))
            assert job.status == JobStatus.SUCCEEDED, job.error
            assert "belum terdaftar di DNS" in job.message
            app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
            assert app_row.status == AppStatus.RUNNING
            assert [r.status for r in app_row.releases] == [ReleaseStatus.LIVE]
            assert fetch(testbed["nginx"]["http"], app_row.fqdn) == (200, f"<h1>{marker}</h1>\n")
            assert flow.post(technician, f"{path}/web-panel-login").status_code == 200
            zone.primary_server = answering
            db.session.commit()
            assert not wadah_dns.name_exists(wadah_dns.ZoneAccess.from_zone(zone), subdomain)
        finally:
            zone.primary_server = answering
            db.session.commit()
            flow.clean_up(agents, host, subdomain, zone)
