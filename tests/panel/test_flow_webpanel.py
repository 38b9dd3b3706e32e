"""The Web Panel end to end on the real testbed: an app deployed through its hosting request is then run
by its app account alone — first sign-in and password change, restart, logs, a new version scanned by
ClamAV and the rules and deployed behind nginx as release 2 (its administrators are emailed), rollback
to release 1, and an environment variable applied on the host."""
from __future__ import annotations

import io
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from panel.actions import apps as app_actions
from panel.extensions import db
from panel.models import App, AppStatus, AppUpload, JobStatus, ReleaseStatus, RoleKey, UploadStatus
from panel.services.infra import hosts
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.panel.smtp import smtp_server
from tests.support import fetch

pytestmark = pytest.mark.slow

NEW_PASSWORD = "panel-aplikasi-baru-2026"


def test_an_app_account_runs_its_app_through_the_web_panel(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"panel{secrets.token_hex(3)}"
    nginx = testbed["nginx"]["http"]

    with running_agent(agents, "host-panel", testbed, tmp_path) as host, smtp_server() as inbox:
        app.config.update(SMTP_HOST=inbox.host, SMTP_PORT=inbox.port)
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain)
        factories.user([RoleKey.OPD_ADMIN], opd=filed.opd, email="pengelola@dinas.contoh.go.id")
        db.session.commit()
        technician = flow.signed_in(app, technician_user)
        try:
            # The data center deploys release 1 and issues the Web Panel login (SOP steps 4–6).
            password = flow.deploy_and_hand_over(technician, filed, flow.site(f"Versi satu {subdomain}"))
            app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
            assert fetch(nginx, app_row.fqdn) == (200, f"<h1>Versi satu {subdomain}</h1>\n")
            base = f"/apps/{app_row.id}"
            inbox.clear()

            # The app account signs in, must change its password first, then lands on its app.
            panel = app.test_client()
            login = {"username": app_row.account.user.username, "password": password}
            signed = panel.post("/login", data={**login, "csrf_token": csrf_token(panel, "/login")})
            assert signed.status_code == 302
            assert panel.get(base).location.endswith("/account/password")
            changed = flow.post(panel, "/account/password", current=password, new=NEW_PASSWORD,
                                confirm=NEW_PASSWORD)
            assert changed.status_code == 302, flow.flashes(panel, "/account/password")
            assert panel.get("/").location.endswith(base)

            # Restart: a job that asks the agent, whose answer the overview shows.
            flow.post(panel, f"{base}/restart")
            restart = flow.newest_job(app_actions.CONTROL)
            assert restart.status == JobStatus.SUCCEEDED, restart.error
            overview = panel.get(base).get_data(as_text=True)
            assert "kontainer <strong>running</strong>" in overview
            assert fetch(nginx, app_row.fqdn)[0] == 200

            # Logs: nginx's access log holds the requests just made (buffered: within 2 s).
            deadline = time.monotonic() + 15
            while True:
                flow.post(panel, f"{base}/logs", lines="100")
                logs = flow.newest_job(app_actions.LOGS)
                assert logs.status == JobStatus.SUCCEEDED, logs.error
                if "GET / " in logs.result["logs"]["access"]:
                    break
                assert time.monotonic() < deadline
                time.sleep(0.5)
            assert "GET / " in panel.get(f"{base}/logs?sumber=access").get_data(as_text=True)

            # A new version: scanned clean, deployed as release 2, behind nginx; the OPD admin is told.
            uploaded = panel.post(f"{base}/uploads", content_type="multipart/form-data", data={
                "csrf_token": csrf_token(panel, f"{base}/uploads"),
                "bundle": (io.BytesIO(flow.site(f"Versi dua {subdomain}")), "v2.tar.gz")})
            assert uploaded.status_code == 302, uploaded.get_data(as_text=True)
            db.session.expire_all()
            upload = db.session.scalar(select(AppUpload))
            assert upload.status == UploadStatus.DEPLOYED, upload.reason
            assert upload.release.number == 2 and upload.scan_report.verdict == "clean"
            assert fetch(nginx, app_row.fqdn) == (200, f"<h1>Versi dua {subdomain}</h1>\n")
            assert inbox.recipients() == ["pengelola@dinas.contoh.go.id"]
            assert "Rilis #2" in inbox.messages[0].message["Subject"]

            # Rollback to release 1: the old content serves again.
            flow.post(panel, f"{base}/releases/rollback")
            rollback = flow.newest_job(app_actions.ROLLBACK)
            assert rollback.status == JobStatus.SUCCEEDED, rollback.error
            assert fetch(nginx, app_row.fqdn) == (200, f"<h1>Versi satu {subdomain}</h1>\n")
            assert [r.status for r in app_row.releases] == [ReleaseStatus.LIVE, ReleaseStatus.RETIRED]
            history = panel.get(f"{base}/releases").get_data(as_text=True)
            assert "Rilis ke-2" in history and "Berjalan" in history

            # An environment variable, applied on the host (which rolls the app onto it).
            flow.post(panel, f"{base}/env", name="APP_GREETING", value="Selamat datang")
            flow.post(panel, f"{base}/env/apply")
            applied = flow.newest_job(app_actions.ENV)
            assert applied.status == JobStatus.SUCCEEDED, applied.error
            with agents.client(host) as agent:
                assert agent.env(app_row.name) == {"APP_GREETING": "Selamat datang"}
                assert agent.status(app_row.name)["state"] == "running"
            assert fetch(nginx, app_row.fqdn) == (200, f"<h1>Versi satu {subdomain}</h1>\n")
            assert app_row.status == AppStatus.RUNNING

            # The domain check asks the zone's real server.
            flow.post(panel, f"{base}/domain")
            domain = flow.newest_job(app_actions.DOMAIN)
            assert domain.result.get("resolves") is True, domain.result
        finally:
            flow.clean_up(agents, host, subdomain, zone)
