"""A watched app in Chromium: a judi-online page dropped into a deployed app's uploads is quarantined by
the real agent, and the technician sees it on the app's Web Panel with its *Pulihkan* button."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from panel import gateway
from panel.extensions import db
from panel.models import App, Host, RoleKey, User, Zone
from tests.browser.actions import flash, sign_in
from tests.browser.conftest import LivePanel
from tests.panel import flow
from tests.support import fetch, tar_gz

pytestmark = [pytest.mark.slow, pytest.mark.browser]

JUDOL_PAGE = Path(__file__).resolve().parents[1] / "corpus/malicious/judol/landing_slot_gacor.html"
WATCH_WITHIN_S = 60  # the agent's watcher quarantines a dropped file within this; we wait, not measure
# A CodeIgniter 3 layout, so its `uploads` is a writable path.
UPLOADS_APP = {"system/core/CodeIgniter.php": "<?php\n// penanda kerangka\n",
               "application/config/config.php": "<?php\n$config = [];\n",
               "uploads/index.html": "<p>unggahan</p>\n", "index.php": "<?php echo 'portal';\n"}


def test_technician_sees_a_quarantined_page_on_the_web_panel_and_releases_it(
    page: Page, live_panel: LivePanel,
) -> None:
    journey = live_panel.journey
    subdomain = f"{journey.subdomain}u"
    with live_panel.app.app_context():
        filed = flow.approved_request(subdomain=subdomain, stack="php")
        technician = db.session.scalar(select(User).where(
            User.username == live_panel.usernames[RoleKey.TECHNICIAN]))
        flow.deploy_and_hand_over(flow.signed_in(live_panel.app, technician), filed, tar_gz(UPLOADS_APP))
        portal = db.session.scalar(select(App).where(App.request_id == filed.id))
        host = db.session.get(Host, portal.host_id)
        app_id, fqdn, name, host_id, host_name = portal.id, portal.fqdn, portal.name, host.id, host.name
    try:
        state = Path(live_panel.app.instance_path) / f"agent-{host_name}"
        (state / "data" / name / "uploads" / "promo.html").write_bytes(JUDOL_PAGE.read_bytes())
        waited = threading.Event()
        for _ in range(WATCH_WITHIN_S * 2):
            if fetch(live_panel.nginx, fqdn, "/uploads/promo.html")[0] == 404:
                break
            waited.wait(0.5)
        assert fetch(live_panel.nginx, fqdn, "/uploads/promo.html")[0] == 404

        sign_in(page, live_panel.usernames[RoleKey.TECHNICIAN])
        page.goto(f"/apps/{app_id}")
        page.get_by_role("navigation", name="Web Panel").get_by_role("link", name="Temuan").click()
        row = page.get_by_role("row").filter(has_text="uploads/promo.html")
        expect(row).to_contain_text("Dikarantina")
        release = row.get_by_role("button", name="Pulihkan")
        expect(release).to_be_visible()
        release.click()
        expect(flash(page, "Berkas dipulihkan ke tempatnya dan dilayani lagi.")).to_be_visible()
        expect(page.get_by_role("row").filter(has_text="uploads/promo.html")).to_contain_text("Dipulihkan")
        assert fetch(live_panel.nginx, fqdn, "/uploads/promo.html")[0] == 200
    finally:
        with live_panel.app.app_context():
            zone = db.session.scalar(select(Zone).where(Zone.name == live_panel.zone))
            flow.clean_up(gateway.agents(live_panel.app), db.session.get(Host, host_id), subdomain, zone)
