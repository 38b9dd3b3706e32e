"""Helpers for the end-to-end tests of whole SOP flows on the real testbed."""
from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel import gateway
from panel.extensions import db
from panel.models import App, HostingRequest, Job, RoleKey, User, Zone
from panel.services.infra import dns as wadah_dns
from panel.services.infra.gateway import AgentGateway
from panel.services.requests import workflow
from tests.panel import factories
from tests.panel.conftest import csrf_token
from tests.support import tar_gz

# A PHP app that counts its visits in its own table: it answers only while its database account works.
VISIT_COUNTER = {"index.php": (
    "<?php\n"
    "$dsn = 'mysql:unix_socket=' . getenv('DB_SOCKET') . ';dbname=' . getenv('DB_DATABASE');\n"
    "$db = new PDO($dsn, getenv('DB_USERNAME'), getenv('DB_PASSWORD'));\n"
    "$db->exec('CREATE TABLE IF NOT EXISTS kunjungan (n INT)');\n"
    "$db->exec('INSERT INTO kunjungan VALUES (1)');\n"
    "echo 'kunjungan ', $db->query('SELECT COUNT(*) FROM kunjungan')->fetchColumn();\n")}


def on_testbed(app: Flask, testbed: dict[str, dict[str, Any]],
               dns_zone: dict[str, Any]) -> tuple[Zone, AgentGateway]:
    """Point the test panel at the testbed's clamd and zone, make its CA; return the zone and its gateway."""
    app.config.update(CLAMD_URL=testbed["clamd"]["address"], PEMDA_DOMAIN=dns_zone["zone"])
    agents = gateway.agents(app)
    agents.create_ca()  # as `wadah up` does on a new panel
    return zone_from(dns_zone), agents


def zone_from(dns_zone: dict[str, Any]) -> Zone:
    zone = Zone(name=dns_zone["zone"], primary_server=f"{dns_zone['host']}:{dns_zone['port']}",
                tsig_key_name=dns_zone["key_name"], tsig_algorithm=dns_zone["algorithm"],
                tsig_secret=dns_zone["secret"], record_ip="127.0.0.1")
    db.session.add(zone)
    return zone


def approved_request(**fields: Any) -> HostingRequest:
    """File a request (as `factories.hosting_request`) and take it through the Kabid's and the Sub
    Koordinator's steps, so that it waits for the technician."""
    filed = factories.hosting_request(**fields)
    workflow.act(filed, factories.user([RoleKey.HEAD]), None, "Disposisi")
    workflow.act(filed, factories.user([RoleKey.COORDINATOR]), "ya", "Lengkap")
    db.session.commit()
    return filed


def upload_scan_allocate(technician: FlaskClient, filed: HostingRequest, bundle: bytes) -> None:
    """As the technician: upload `bundle`, scan it and allocate (SOP steps 4–5) through the pages."""
    path = f"/requests/{filed.id}"
    technician.post(f"{path}/bundle", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(technician, path), "bundle": (io.BytesIO(bundle), "aplikasi.tar.gz")})
    post(technician, f"{path}/scan")
    post(technician, f"{path}/allocate")


def deploy_and_hand_over(technician: FlaskClient, filed: HostingRequest, bundle: bytes) -> str:
    """As the technician: upload `bundle`, scan, allocate, deploy and issue the Web Panel login (SOP
    steps 4–6) through the pages; return the login's password, shown once."""
    path = f"/requests/{filed.id}"
    upload_scan_allocate(technician, filed, bundle)
    post(technician, f"{path}/deploy")
    handover = post(technician, f"{path}/web-panel-login")
    assert handover.status_code == 200, flashes(technician, path)
    return re.search(r'<code class="secret">([^<]+)</code>', handover.get_data(as_text=True))[1]


def newest_job(kind: str) -> Job:
    db.session.expire_all()
    return db.session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id.desc())).first()


def site(marker: str) -> bytes:
    return tar_gz({"index.html": f"<h1>{marker}</h1>\n", "style.css": "h1 { color: navy; }\n"})


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    response = client.post("/login", data={"username": user.username, "password": factories.PASSWORD,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302
    return client


def post(client: FlaskClient, path: str, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, "/account/password"), **data})


def flashes(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return " | ".join(re.findall(r'class="(?:flash[^"]*|error)"[^>]*>([^<]+)<', page))


def clean_up(agents: AgentGateway, host: Any, subdomain: str, zone: Zone) -> None:
    app_row = db.session.scalar(select(App).where(App.subdomain == subdomain))
    if app_row is not None:
        with agents.client(host) as agent:
            try:
                agent.remove(app_row.name)
            except Exception:  # noqa: BLE001 - best effort: the test's own failure matters more
                pass
    wadah_dns.remove_address(wadah_dns.ZoneAccess.from_zone(zone), subdomain)
