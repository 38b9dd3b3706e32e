"""The upload progress of templates/static/upload.js and the language switch, clicked through in Chromium.

The OPD admin's request form is the cheapest upload form to reach: Playwright holds its POST in flight
(or cuts it) so the page can be seen while the bundle is on its way, as a person on a slow line sees it.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import HostingRequest, Job, JobStatus, RoleKey
from tests.browser.actions import definition, flash, screenshot, sign_in, sign_out
from tests.browser.conftest import TIMEOUT_MS, VIEWPORT, LivePanel
from tests.panel import factories, flow

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REQUEST_NUMBER = re.compile(r"\d{3}/HOST/DISKOMINFO/\d{4}")
UPLOADING = re.compile(r"^Mengunggah… \d{1,3}%$")
UPLOAD_FAILED = "Unggahan terputus; tidak ada yang disimpan. Silakan coba lagi."


def requests_filed(live_panel: LivePanel, subdomain: str) -> int:
    """How many requests the panel's database holds for `subdomain` (a fresh session, not a cached one)."""
    with live_panel.app.app_context():
        return db.session.scalar(select(func.count()).select_from(HostingRequest)
                                 .where(HostingRequest.subdomain == subdomain)) or 0


def set_job(live_panel: LivePanel, job_id: int | None, request_id: int, status: JobStatus) -> int:
    """Record (or move on) a scan job of the request, as the worker would; return its id."""
    with live_panel.app.app_context():
        job = db.session.get(Job, job_id) if job_id else None
        if job is None:
            job = Job(kind="scan", target_type="HostingRequest", target_id=str(request_id),
                      message="Menunggu giliran")
            db.session.add(job)
        job.status = status
        db.session.commit()
        return job.id


def wait_until(page: Page, condition: Callable[[], object], what: str) -> None:
    """Let Playwright deliver its events (route handlers run meanwhile) until `condition()` holds."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(50)


def fill_request_form(page: Page, tmp_path: Path, app_name: str, subdomain: str) -> None:
    """Open the request form from the menu and fill it in, letters and bundle included."""
    letter = tmp_path / "surat-permohonan.pdf"
    letter.write_bytes(factories.MINIMAL_PDF)
    recommendation = tmp_path / "rekomendasi-tim-teknis.pdf"
    recommendation.write_bytes(factories.MINIMAL_PDF)
    bundle = tmp_path / f"{subdomain}.tar.gz"
    bundle.write_bytes(flow.site(app_name))

    page.get_by_role("navigation", name="Menu utama").get_by_role("link", name="Permohonan").click()
    page.get_by_role("link", name="Ajukan permohonan").click()
    page.get_by_label("Nama aplikasi").fill(app_name)
    page.get_by_label("Sub-domain yang diinginkan").fill(subdomain)
    page.get_by_label("Jenis aplikasi").select_option(label="Situs statis (HTML/CSS/JS)")
    page.get_by_label("Uraian singkat").fill("Aplikasi uji unggahan.")
    page.get_by_label("Kontak pengelola").fill("Rina Marlina, 0812 0000 0000")
    page.get_by_label("Surat permohonan").set_input_files(letter)
    page.get_by_label("Rekomendasi Tim Teknis").set_input_files(recommendation)
    page.get_by_label("Berkas aplikasi").set_input_files(bundle)


def test_request_upload_shows_its_progress_and_then_the_panels_answer(
    page: Page, live_panel: LivePanel, tmp_path: Path,
) -> None:
    subdomain = live_panel.journey.subdomain
    sign_in(page, live_panel.usernames[RoleKey.OPD_ADMIN])
    fill_request_form(page, tmp_path, "Sistem Antrean Puskesmas", subdomain)
    form_url = page.url
    assert form_url.endswith("/requests/new")

    # Every POST of the form is held in flight until the test lets it go.
    held: list[Route] = []
    page.route("**/requests/new", lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    form = page.locator("form[data-upload-progress]")
    send = form.get_by_role("button", name="Kirim permohonan")
    uploading = form.get_by_role("progressbar")
    expect(uploading).to_be_hidden()  # no empty bar before anything is sent
    send.click()
    wait_until(page, lambda: held, "the upload to leave the page")

    # While the bundle is in flight: the bar, the percentage, and no second way to post it.
    expect(uploading).to_be_visible()
    expect(form.get_by_role("status")).to_have_text(UPLOADING)
    expect(send).to_be_disabled()
    page.get_by_label("Nama aplikasi").press("Enter")  # implicit submission: refused, the button is disabled
    expect(page).to_have_url(form_url)
    assert requests_filed(live_panel, subdomain) == 0

    held[0].continue_()
    filed = flash(page, re.compile(rf"^Permohonan {REQUEST_NUMBER.pattern} terkirim\.$"))
    expect(filed).to_be_visible()
    found = REQUEST_NUMBER.search(filed.inner_text())
    assert found is not None
    number = found.group(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sistem Antrean Puskesmas {number}")
    expect(page).to_have_url(re.compile(r"/requests/\d+$"))
    assert len(held) == 1, "the form was posted more than once"
    assert requests_filed(live_panel, subdomain) == 1
    # The answer is a whole page: its own upload form is wired up once, and a reload shows the request
    # again (the address is the answer's, not the form's) without posting anything.
    replacement = page.locator("form[data-upload-progress]")
    expect(replacement).to_have_count(1)
    expect(replacement.locator("progress")).to_have_count(1)
    request_url = page.url
    page.reload()
    expect(page).to_have_url(request_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sistem Antrean Puskesmas {number}")
    expect(filed).to_have_count(0)  # the flash was shown once
    assert requests_filed(live_panel, subdomain) == 1


def test_request_upload_cut_off_on_the_way_saves_nothing_and_can_be_sent_again(
    page: Page, live_panel: LivePanel, tmp_path: Path,
) -> None:
    subdomain = f"{live_panel.journey.subdomain}b"
    sign_in(page, live_panel.usernames[RoleKey.OPD_ADMIN])
    fill_request_form(page, tmp_path, "Sistem Rujukan Puskesmas", subdomain)
    form_url = page.url

    cut: list[str] = []

    def cut_off(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        cut.append(route.request.url)
        route.abort("connectionreset")

    page.route("**/requests/new", cut_off)
    form = page.locator("form[data-upload-progress]")
    send = form.get_by_role("button", name="Kirim permohonan")
    send.click()

    expect(form.get_by_role("status")).to_have_text(UPLOAD_FAILED)
    expect(send).to_be_enabled()
    expect(form.get_by_role("progressbar")).to_be_hidden()
    expect(page).to_have_url(form_url)
    assert len(cut) == 1
    assert requests_filed(live_panel, subdomain) == 0
    # What was filled in is still there, so sending it again is one click.
    expect(page.get_by_label("Nama aplikasi")).to_have_value("Sistem Rujukan Puskesmas")

    page.unroute("**/requests/new")
    send.click()
    filed = flash(page, re.compile(rf"^Permohonan {REQUEST_NUMBER.pattern} terkirim\.$"))
    expect(filed).to_be_visible()
    expect(page).to_have_url(re.compile(r"/requests/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sistem Rujukan Puskesmas")
    assert requests_filed(live_panel, subdomain) == 1


def test_bundle_upload_survives_the_reloads_of_a_page_that_follows_a_job(
    page: Page, live_panel: LivePanel, tmp_path: Path,
) -> None:
    """While a job runs the request page reloads itself every 2 s; an upload under way must not be lost."""
    subdomain = f"{live_panel.journey.subdomain}c"
    sign_in(page, live_panel.usernames[RoleKey.OPD_ADMIN])
    fill_request_form(page, tmp_path, "Sistem Gizi Puskesmas", subdomain)
    page.get_by_role("button", name="Kirim permohonan").click()
    expect(flash(page, re.compile(r"^Permohonan .* terkirim\.$"))).to_be_visible()
    request_url = page.url
    request_id = int(request_url.rsplit("/", 1)[1])

    job_id = set_job(live_panel, None, request_id, JobStatus.QUEUED)
    try:
        page.reload()
        expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)  # the page follows the job
        expect(page.get_by_text("Pemindaian keamanan: Menunggu giliran")).to_be_visible()
        bundle = tmp_path / "sigizi-v2.tar.gz"
        bundle.write_bytes(flow.site("Sistem Gizi Puskesmas, versi 2"))
        page.get_by_text("Unggah berkas aplikasi baru").click()  # the <details> that holds the form
        form = page.locator("form[data-upload-progress]")
        form.get_by_label("Berkas aplikasi baru").set_input_files(bundle)

        reloads: list[str] = []
        page.on("request", lambda sent: reloads.append(sent.url) if sent.url == request_url else None)
        held: list[Route] = []
        page.route(f"{request_url}/bundle", lambda route: held.append(route))
        form.get_by_role("button", name="Unggah", exact=True).click()
        wait_until(page, lambda: held, "the upload to leave the page")
        page.wait_for_timeout(5_000)  # more than twice the page's 2-second reload
        assert reloads == [], "the page reloaded itself and dropped the upload"
        expect(form.get_by_role("status")).to_have_text(UPLOADING)

        set_job(live_panel, job_id, request_id, JobStatus.SUCCEEDED)  # the job ends meanwhile
        held[0].continue_()
        expect(flash(page, "Berkas aplikasi baru disimpan; pindai ulang untuk melanjutkan.")).to_be_visible()
        expect(page).to_have_url(request_url)
        stored = hashlib.sha256(bundle.read_bytes()).hexdigest()
        expect(definition(page, "Berkas aplikasi")).to_have_text(stored[:12])
    finally:
        set_job(live_panel, job_id, request_id, JobStatus.SUCCEEDED)


def test_official_switches_the_panel_to_english_and_back(
    page: Page, browser: Browser, live_panel: LivePanel,
) -> None:
    html = page.locator("html")
    sign_in(page, live_panel.usernames[RoleKey.HEAD])
    expect(html).to_have_attribute("lang", "id")
    languages = page.get_by_role("form", name="Bahasa")
    expect(languages.get_by_role("button", name="Bahasa Indonesia")).to_be_disabled()  # the current one

    languages.get_by_role("button", name="English").click()
    expect(html).to_have_attribute("lang", "en")
    menu = page.get_by_role("navigation", name="Main menu")
    expect(menu.get_by_role("link", name="Home")).to_be_visible()
    expect(menu.get_by_role("link", name="Requests")).to_be_visible()
    expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("form", name="Language").get_by_role("button", name="English")).to_be_disabled()

    # Another page, reloaded, still speaks English.
    menu.get_by_role("link", name="Requests").click()
    expect(page).to_have_url(re.compile(r"/requests$"))
    page.reload()
    expect(html).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Hosting requests", level=1)).to_be_visible()
    screenshot(page, "english-requests", full_page=True)

    # The choice is the user's: a browser that never saw the cookie shows English once they sign in.
    elsewhere = browser.new_context(base_url=live_panel.url, locale="id-ID",
                                    viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
                                    timezone_id="Asia/Jakarta")
    try:
        other = elsewhere.new_page()
        other.set_default_timeout(TIMEOUT_MS)
        sign_in_page = other.goto("/login")
        assert sign_in_page is not None and sign_in_page.ok
        expect(other.locator("html")).to_have_attribute("lang", "id")  # no choice known before signing in
        other.get_by_label("Nama pengguna").fill(live_panel.usernames[RoleKey.HEAD])
        other.get_by_label("Kata sandi").fill(factories.PASSWORD)
        other.get_by_role("button", name="Masuk").click()
        expect(other.get_by_role("button", name="Sign out")).to_be_visible()
        expect(other.locator("html")).to_have_attribute("lang", "en")
    finally:
        elsewhere.close()

    # Back to Bahasa Indonesia, on the page where the switch was pressed.
    page.get_by_role("form", name="Language").get_by_role("button", name="Bahasa Indonesia").click()
    expect(html).to_have_attribute("lang", "id")
    expect(page).to_have_url(re.compile(r"/requests$"))
    expect(page.get_by_role("heading", name="Permohonan hosting", level=1)).to_be_visible()
    menu = page.get_by_role("navigation", name="Menu utama")
    expect(menu.get_by_role("link", name="Beranda")).to_be_visible()
    expect(menu.get_by_role("link", name="Permohonan")).to_be_visible()
    sign_out(page)  # in Indonesian again: "Keluar", "Anda telah keluar."
    expect(html).to_have_attribute("lang", "id")
