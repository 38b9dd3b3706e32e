"""Fixtures for the browser tests: Debian's Chromium driven by Playwright against a live panel.

The panel is the real app served by a real WSGI server on 127.0.0.1, with a real agent on the
testbed, so a click does what it does in production: scans with clamd, deploys with Docker and
nginx, adds the name to BIND.
"""
from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from panel import create_app, database, gateway
from panel.extensions import db
from panel.models import RoleKey
from panel.services.infra import hosts
from panel.services.requests import workflow
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.support import unavailable

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright never downloads a browser of its own
TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 800}
# Every host name resolves to nothing, so the browser can reach the panel on 127.0.0.1 and nothing else.
LOOPBACK_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"

# The people of the journeys, as the demo Pemda names them: role → (username, full name).
PEOPLE = {
    RoleKey.OPD_ADMIN: ("opd.dinkes", "Rina Marlina"),
    RoleKey.HEAD: ("kabid", "Ir. Hendra Saputra"),
    RoleKey.COORDINATOR: ("subkoor", "Dewi Lestari, S.Kom."),
    RoleKey.TECHNICIAN: ("teknisi", "Agus Pratama"),
}


@dataclass
class Journey:
    """What the journeys of one module hand on to each other, in the order they run."""

    subdomain: str
    marker: str
    request_number: str | None = None
    web_panel: dict[str, str] = field(default_factory=dict)
    web_panel_page: str | None = None  # the app's Web Panel, once its account has its own password

    def needs(self, *names: str) -> None:
        """Stop unless the earlier journeys produced `names`: a skip locally, a failure in CI."""
        if not all(getattr(self, name) for name in names):
            unavailable(f"an earlier journey did not finish ({', '.join(names)})")


@dataclass
class LivePanel:
    url: str
    app: Flask
    nginx: str  # the testbed nginx's address, host:port
    zone: str
    usernames: dict[RoleKey, str]
    journey: Journey


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Launch Debian's Chromium headless through Playwright, once for the browser tests."""
    if not Path(CHROMIUM).is_file():
        unavailable(f"Chromium is not installed at {CHROMIUM}: scripts/bootstrap installs Debian's chromium")
    args = [LOOPBACK_ONLY]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox itself as root
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def live_panel(testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePanel]:
    """Serve the real panel on 127.0.0.1 with a real agent on the testbed and the journeys' people."""
    instance = tmp_path_factory.mktemp("panel")
    database.upgrade(f"sqlite:///{instance / 'wadah.db'}")
    app = create_app({
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_hex(32),
        "SECRETS_KEY": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'wadah.db'}",
        "JOBS_IMMEDIATE": True,  # scans and deploys run inside the click's request
        "SESSION_COOKIE_SECURE": False,  # plain HTTP on loopback
        "REMEMBER_COOKIE_SECURE": False,
        "LOGIN_RATE_LIMIT": "60 per minute",  # every person of the journeys signs in from 127.0.0.1
        "CLAMD_URL": testbed["clamd"]["address"],
        "PEMDA_DOMAIN": dns_zone["zone"],
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PANEL_URL"] = f"{url}/"
    journey = Journey(subdomain=f"sipus{secrets.token_hex(3)}", marker=f"Puskesmas {secrets.token_hex(4)}")

    with app.app_context():
        workflow.ensure_builtin_templates()
        zone = flow.zone_from(dns_zone)
        opd = factories.opd(code="DINKES", name="Dinas Kesehatan")
        for role, (username, full_name) in PEOPLE.items():
            factories.user([role], username=username, full_name=full_name,
                           opd=opd if role == RoleKey.OPD_ADMIN else None)
        db.session.commit()
        agents = gateway.agents(app)
        with running_agent(agents, "host-browser", testbed, instance) as host:
            hosts.refresh_facts(agents, host)
            db.session.commit()
            serving = threading.Thread(target=server.serve_forever, name="live-panel", daemon=True)
            serving.start()
            try:
                yield LivePanel(url=url, app=app, nginx=testbed["nginx"]["http"], zone=dns_zone["zone"],
                                usernames={role: username for role, (username, _) in PEOPLE.items()},
                                journey=journey)
            finally:
                server.shutdown()
                serving.join(10)
                server.server_close()
                db.session.expire_all()
                flow.clean_up(agents, host, journey.subdomain, zone)
        db.session.remove()


@pytest.fixture
def page(browser: Browser, live_panel: LivePanel) -> Iterator[Page]:
    """Open a fresh browser context (no cookies from another test) on the live panel."""
    context = browser.new_context(base_url=live_panel.url, viewport=VIEWPORT, locale="id-ID",
                                  timezone_id="Asia/Jakarta", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()
