"""An app that asked for a database, end to end on the real testbed: the agent creates it on MariaDB at
the first deploy, the app uses it through the socket mounted into its container, the Web Panel shows the
connection (never the password), and a password reset restarts the app onto a password shown once."""
from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pymysql
import pytest
from flask import Flask
from sqlalchemy import select

from panel.actions import apps as app_actions
from panel.extensions import db
from panel.models import App, JobStatus, RoleKey
from panel.services.infra import hosts
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow


def visits_of(nginx: str, fqdn: str) -> int:
    status, body = fetch(nginx, fqdn)
    assert status == 200 and body.startswith("kunjungan "), (status, body)
    return int(body.split()[1])


def test_an_app_with_a_database_gets_one_and_its_account_resets_the_password(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    mariadb_admin: dict[str, Any], tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"basisdata{secrets.token_hex(3)}"
    nginx = testbed["nginx"]["http"]

    with running_agent(agents, "host-db", testbed, tmp_path, mariadb_admin) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain, stack="php", needs_database=True)
        technician = flow.signed_in(app, technician_user)
        try:
            password = flow.deploy_and_hand_over(technician, filed, tar_gz(flow.VISIT_COUNTER))
            app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
            assert app_row.needs_database
            visits = visits_of(nginx, app_row.fqdn)  # the health checks visited it too
            assert visits_of(nginx, app_row.fqdn) == visits + 1

            panel = app.test_client()
            login = {"username": app_row.account.user.username, "password": password}
            signed = panel.post("/login", data={**login, "csrf_token": csrf_token(panel, "/login")})
            assert signed.status_code == 302
            new_login = "akun-aplikasi-basis-data-2026"
            flow.post(panel, "/account/password", current=password, new=new_login, confirm=new_login)
            base = f"/apps/{app_row.id}"

            # The connection, as the agent reports it: names, never the password.
            flow.post(panel, f"{base}/database")
            details = flow.newest_job(app_actions.DATABASE)
            assert details.status == JobStatus.SUCCEEDED, details.error
            page = panel.get(f"{base}/database").get_data(as_text=True)
            account = details.result["database"]
            assert account["database"].startswith("wadah_") and f"<code>{account['user']}</code>" in page
            assert "password" not in account

            # A reset: the new password is shown once to the one who asked, and it is the one that works.
            flow.post(panel, f"{base}/database/password")
            reset = flow.newest_job(app_actions.DATABASE_PASSWORD)
            assert reset.status == JobStatus.SUCCEEDED, reset.error
            shown = flow.post(panel, f"{base}/database/password/{reset.id}").get_data(as_text=True)
            fresh = re.search(r'<code class="secret">([^<]+)</code>', shown)[1]
            with pymysql.connect(unix_socket=testbed["mariadb"]["socket"], user=account["user"],
                                 password=fresh, database=account["database"]) as connection:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT COUNT(*) FROM kunjungan")
                    counted = cursor.fetchone()[0]
                    assert counted >= visits + 1
            with pytest.raises(pymysql.err.OperationalError):
                pymysql.connect(unix_socket=testbed["mariadb"]["socket"], user=account["user"],
                                password=fresh + "x", database=account["database"]).close()
            # The app was restarted onto the new password, and its data is still there.
            assert visits_of(nginx, app_row.fqdn) > counted
            again = flow.post(panel, f"{base}/database/password/{reset.id}")
            assert again.status_code == 302
            assert fresh not in again.get_data(as_text=True)
        finally:
            flow.clean_up(agents, host, subdomain, zone)
