"""What a new user does first: `wadah up` on an empty state directory, then a PHP app with a database
filed through the API and taken through the SOP by the real web, worker and agent processes.

The panel's whole state (database, instance file, CA, agent, processes) starts empty. The local
services are the shared testbed's, linked in as `testbed/`: they are what `wadah up` starts there, and
one machine holds only one set of them (one Docker bridge, fixed ports).
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panel.testbed import Testbed
from tests.api_client import Api, multipart, wadah
from tests.panel.agent import free_port
from tests.panel.factories import MINIMAL_PDF
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow

APP = {"index.php": """<?php
$db = new mysqli('localhost', getenv('DB_USERNAME'), getenv('DB_PASSWORD'), getenv('DB_DATABASE'),
                 0, getenv('DB_SOCKET'));
$db->query('CREATE TABLE IF NOT EXISTS kunjungan (id INT AUTO_INCREMENT PRIMARY KEY)');
$db->query('INSERT INTO kunjungan () VALUES ()');
echo 'kunjungan:', $db->query('SELECT COUNT(*) FROM kunjungan')->fetch_row()[0];
"""}


@pytest.fixture
def fresh_install(testbed: dict[str, dict[str, Any]], runtime_images: Any,
                  tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Run `wadah up` on an empty state directory; yield it and the panel's URL; `wadah down`."""
    state = tmp_path / "wadah"
    state.mkdir()
    (state / "testbed").symlink_to(Testbed().dir)
    web_port = free_port()
    env = {**os.environ, "WADAH_WEB_PORT": str(web_port),
           "WADAH_LOCAL_AGENT_PORT": str(free_port())}
    env.pop("WADAH_STATE_DIR", None)
    started = wadah(state, "up", env=env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield state, f"http://127.0.0.1:{web_port}"
    finally:
        stopped = wadah(state, "down", env=env)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def tokens(state: Path, usernames: list[str]) -> dict[str, str]:
    """Give each demo user a personal API token, as each would on its *Token API* page."""
    from panel import create_app
    from panel.extensions import db
    from panel.models import User
    from tests.panel.factories import api_token

    app = create_app({"INSTANCE_PATH": str(state / "panel")})
    with app.app_context():
        issued = {name: api_token(db.session.query(User).filter_by(username=name).one(),
                                  "uji-pemasangan", 1)[1] for name in usernames}
        db.session.commit()
    return issued


def remove_app(state: Path, name: str, subdomain: str, zone: str) -> None:
    """Take the app off the local agent and its name out of the zone, as decommissioning will."""
    from sqlalchemy import select

    from panel import create_app, gateway
    from panel.extensions import db
    from panel.models import Host, Zone
    from panel.services.infra import dns as wadah_dns

    app = create_app({"INSTANCE_PATH": str(state / "panel")})
    with app.app_context():
        host = db.session.scalar(select(Host))
        with gateway.agents(app).client(host) as agent:
            agent.remove(name)
        zone_row = db.session.scalar(select(Zone).where(Zone.name == zone))
        wadah_dns.remove_address(wadah_dns.ZoneAccess.from_zone(zone_row), subdomain)


def test_a_new_install_deploys_a_php_app_with_a_database(
        fresh_install: tuple[Path, str], testbed: dict[str, dict[str, Any]]) -> None:
    state, url = fresh_install
    issued = tokens(state, ["opd.dinkes", "kabid", "subkoor", "teknisi"])
    opd, kabid, subkoor, teknisi = (Api(url + "/api/v1", issued[name])
                                    for name in ("opd.dinkes", "kabid", "subkoor", "teknisi"))
    subdomain = f"baru{secrets.token_hex(3)}"
    filed = opd.call("POST", "/requests", multipart=multipart(
        {"app_name": "Buku Tamu Dinkes", "subdomain": subdomain, "stack": "php",
         "needs_database": "true"},
        {"letter_surat_permohonan": ("surat.pdf", MINIMAL_PDF),
         "bundle": ("bukutamu.tar.gz", tar_gz(APP))}))
    path = f"/requests/{filed['id']}"
    allocated: dict[str, Any] = {}
    apps: dict[str, Any] = {}
    try:
        kabid.call("POST", f"{path}/step", {"note": "Disposisi Kadis"})
        subkoor.call("POST", f"{path}/step", {"decision": "ya", "note": "Lengkap"})
        scan = teknisi.finished(teknisi.call("POST", f"{path}/scan"))
        assert scan["status"] == "succeeded", scan
        allocation = teknisi.finished(teknisi.call("POST", f"{path}/allocation"))
        assert allocation["status"] == "succeeded", allocation
        allocated = teknisi.call("GET", path)["app"]
        deploy = teknisi.finished(teknisi.call("POST", f"{path}/deployment"))
        assert deploy["status"] == "succeeded", deploy

        apps = opd.call("GET", "/apps")
        nginx = testbed["nginx"]["http"]
        first = fetch(nginx, allocated["fqdn"])
        assert first[0] == 200 and first[1].startswith("kunjungan:"), first
        count = int(first[1].partition(":")[2])  # the health checks visited it too
        assert fetch(nginx, allocated["fqdn"]) == (200, f"kunjungan:{count + 1}")
    finally:
        for app in (apps or teknisi.call("GET", "/apps"))["items"]:
            remove_app(state, app["name"], subdomain, testbed["named"]["zone"])
