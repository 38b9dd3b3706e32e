"""An app's whole life end to end on the real testbed: deployed with a database through its request, then
driven by its OPD's CI through the API alone (restart, logs, variables, a new release scanned and
deployed, rollback, a database password reset), its Web Panel login handed to a new manager, and at
last decommissioned: gone from nginx, Docker, MariaDB and the BIND zone, its final database dump kept on
the agent, recorded as removed, its OPD admin told by email."""
from __future__ import annotations

import io
import secrets
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import App, AppStatus, AuditEvent, RoleKey
from panel.services.infra import dns as wadah_dns
from panel.services.infra import hosts
from panel.services.infra.agent_client import AgentRefused
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.panel.openapi import conforms
from tests.panel.smtp import smtp_server
from tests.panel.test_flow_database import VISIT_COUNTER
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow


def finished(api: Any, headers: dict[str, str], started: dict[str, Any]) -> dict[str, Any]:
    """Poll a job through the API until it is done; return it."""
    deadline = time.monotonic() + 120
    job = started
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
        job = conforms(api.get(f"/api/v1/jobs/{started['id']}", headers=headers), "/jobs/{job_id}")
    return job


def test_an_apps_whole_life_through_the_api_ends_in_decommissioning(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    mariadb_admin: dict[str, Any], tmp_path: Path,
) -> None:
    zone, pki = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"umur{secrets.token_hex(3)}"
    nginx = testbed["nginx"]["http"]
    access = wadah_dns.ZoneAccess.from_zone(zone)

    with running_agent(pki, "host-life", testbed, tmp_path, mariadb_admin) as host, smtp_server() as inbox:
        app.config.update(SMTP_HOST=inbox.host, SMTP_PORT=inbox.port)
        hosts.refresh_facts(pki, host)
        filed = flow.approved_request(subdomain=subdomain, stack="php", needs_database=True)
        admin = factories.user([RoleKey.OPD_ADMIN], opd=filed.opd, email="pengelola@dinas.contoh.go.id")
        db.session.commit()
        technician = flow.signed_in(app, technician_user)
        try:
            password = flow.deploy_and_hand_over(technician, filed, tar_gz(VISIT_COUNTER))
            row = db.session.scalar(select(App).where(App.request_id == filed.id))
            assert fetch(nginx, row.fqdn)[1].startswith("kunjungan ")
            assert wadah_dns.name_exists(access, subdomain)
            api, ci = app.test_client(), {"Authorization": "Bearer " + factories.api_token(admin)[1]}
            staff = {"Authorization": "Bearer " + factories.api_token(technician_user)[1]}
            db.session.commit()
            base = f"/api/v1/apps/{row.id}"

            # The OPD's CI: restart, logs, variables (the Web Panel's rules), a new release, rollback.
            restarted = finished(api, ci, conforms(api.post(f"{base}/restart", headers=ci),
                                                   "/apps/{app_id}/{action}", "post"))
            assert restarted["status"] == "succeeded", restarted["error"]
            assert restarted["result"]["status"]["state"] == "running"
            logs = finished(api, ci, conforms(api.get(f"{base}/logs?lines=100", headers=ci),
                                              "/apps/{app_id}/logs"))
            assert logs["status"] == "succeeded" and set(logs["result"]["logs"]) == {"app", "access", "error"}
            refused = api.put(f"{base}/variables", headers=ci,
                              json={"variables": {"PHP_INI_SCAN_DIR": "/data"}})
            assert refused.status_code == 422
            applied = finished(api, ci, conforms(
                api.put(f"{base}/variables", headers=ci, json={"variables": {"APP_GREETING": "Halo"}}),
                "/apps/{app_id}/variables", "put"))
            assert applied["status"] == "succeeded", applied["error"]
            with pki.client(host) as agent:
                assert agent.env(row.name) == {"APP_GREETING": "Halo"}
            sent = api.post(f"{base}/releases", headers=ci, content_type="multipart/form-data", data={
                "bundle": (io.BytesIO(tar_gz({"index.php": "<?php echo 'versi dua';\n"})), "v2.tar.gz")})
            uploaded = conforms(sent, "/apps/{app_id}/releases", "post")
            assert finished(api, ci, uploaded)["status"] == "succeeded"
            db.session.expire_all()
            assert row.live_release.number == 2
            assert fetch(nginx, row.fqdn) == (200, "versi dua")
            rolled = finished(api, ci, conforms(api.post(f"{base}/rollback", headers=ci),
                                                "/apps/{app_id}/rollback", "post"))
            assert rolled["status"] == "succeeded", rolled["error"]
            assert fetch(nginx, row.fqdn)[1].startswith("kunjungan ")

            # A database password reset: the new password is in the job's result once, and it works.
            reset = finished(api, ci, conforms(api.post(f"{base}/database/password", headers=ci),
                                               "/apps/{app_id}/database/password", "post"))
            assert reset["status"] == "succeeded" and "password" not in reset["result"]
            shown = conforms(api.get(f"/api/v1/jobs/{reset['id']}", headers=ci), "/jobs/{job_id}")
            fresh = shown["result"]["password"]
            assert api.get(f"/api/v1/jobs/{reset['id']}", headers=ci).status_code == 422
            database = f"wadah_{row.name.replace('-', '_')}"
            with pymysql.connect(unix_socket=testbed["mariadb"]["socket"], user=database, password=fresh,
                                 database=database):
                pass

            # The Web Panel login handed to a new manager: the old manager's session ends.
            old_manager = app.test_client()
            old_manager.post("/login", data={"username": row.account.user.username, "password": password,
                                             "csrf_token": csrf_token(old_manager, "/login")})
            assert old_manager.get("/account/password").status_code == 200
            handed = api.post(f"{base}/login", headers=staff, json={"username": f"pengelola-{subdomain}"})
            assert conforms(handed, "/apps/{app_id}/login", "post")["username"] == f"pengelola-{subdomain}"
            ended = old_manager.get("/account/password")
            assert ended.status_code == 302 and "/login" in ended.location
            assert "app.login_handover" in db.session.scalars(select(AuditEvent.action)).all()

            # Decommissioning: not by the OPD admin, not without a reason, once.
            inbox.clear()
            assert api.delete(base, headers=ci, json={"reason": "Pensiun"}).status_code == 403
            assert api.delete(base, headers=staff, json={"reason": ""}).status_code == 422
            removal = finished(api, staff, conforms(
                api.delete(base, headers=staff, json={"reason": "Digantikan aplikasi provinsi"}),
                "/apps/{app_id}", "delete"))
            assert removal["status"] == "succeeded", removal["error"]
            assert api.delete(base, headers=staff, json={"reason": "Lagi"}).status_code == 409
            db.session.expire_all()
            assert row.status == AppStatus.REMOVED and row.removed_at is not None
            # Gone from the zone (BIND answers NXDOMAIN), from nginx, from Docker and from MariaDB.
            assert not wadah_dns.name_exists(access, subdomain)
            assert fetch(nginx, row.fqdn)[0] != 200
            with pki.client(host) as agent, pytest.raises(AgentRefused) as unknown:
                agent.status(row.name)
            assert unknown.value.code == "unknown_app"
            with pytest.raises(pymysql.err.OperationalError):
                pymysql.connect(unix_socket=testbed["mariadb"]["socket"], user=database, password=fresh,
                                database=database).close()
            # Its final dump is kept on the agent, under the name the panel recorded.
            assert row.removal_dump and row.removal_dump.endswith(".sql.gz")
            assert (tmp_path / "agent-host-life" / "dumps" / row.removal_dump).is_file()
            # Still in the panel, as removed; the OPD admin was told.
            assert conforms(api.get(base, headers=ci), "/apps/{app_id}")["status"] == "removed"
            assert inbox.recipients() == ["pengelola@dinas.contoh.go.id"]
            assert "dihapus" in inbox.messages[0].message["Subject"]
        finally:
            flow.clean_up(pki, host, subdomain, zone)
