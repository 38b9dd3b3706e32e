"""A hosting request clicked through in Chromium by the people of the Muara Enim SOP, on the real testbed.

The journeys run in order on one live panel: each starts where the one before stopped, so the whole
SOP is walked once (one scan, one deploy), then the Web Panel's upload and rollback, rather than once
per test.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from panel.models import RoleKey
from tests.browser.actions import (
    current_step,
    definition,
    flash,
    open_request,
    screenshot,
    sign_in,
    sign_out,
)
from tests.browser.conftest import LivePanel
from tests.panel import factories, flow
from tests.support import fetch

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REQUEST_NUMBER = re.compile(r"\d{3}/HOST/DISKOMINFO/\d{4}")
SCAN_MS = 60_000  # clamd, bandit and the rules run inside the click's request
DEPLOY_MS = 180_000  # the agent starts the container, health-checks it and switches nginx
NEW_PASSWORD = "Puskesmas-Sehat-2026!"


def test_opd_admin_files_a_request_with_its_letters_and_bundle(
    page: Page, live_panel: LivePanel, tmp_path: Path,
) -> None:
    journey = live_panel.journey
    letter = tmp_path / "surat-permohonan.pdf"
    letter.write_bytes(factories.MINIMAL_PDF)
    recommendation = tmp_path / "rekomendasi-tim-teknis.pdf"
    recommendation.write_bytes(factories.MINIMAL_PDF)
    bundle = tmp_path / "sipuskesmas.tar.gz"
    bundle.write_bytes(flow.site(journey.marker))

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    screenshot(page, "masuk")
    sign_in(page, live_panel.usernames[RoleKey.OPD_ADMIN])

    page.get_by_role("navigation", name="Menu utama").get_by_role("link", name="Permohonan").click()
    page.get_by_role("link", name="Ajukan permohonan").click()
    page.get_by_label("Nama aplikasi").fill("Sistem Informasi Puskesmas")
    page.get_by_label("Sub-domain yang diinginkan").fill(journey.subdomain)
    page.get_by_label("Jenis aplikasi").select_option(label="Situs statis (HTML/CSS/JS)")
    page.get_by_label("Uraian singkat").fill("Jadwal layanan dan informasi Puskesmas se-kabupaten.")
    page.get_by_label("Kontak pengelola").fill("Rina Marlina, 0812 0000 0000")
    page.get_by_label("Surat permohonan").set_input_files(letter)
    page.get_by_label("Rekomendasi Tim Teknis").set_input_files(recommendation)
    page.get_by_label("Berkas aplikasi").set_input_files(bundle)
    screenshot(page, "permohonan-baru", full_page=True)
    page.get_by_role("button", name="Kirim permohonan").click()

    filed = flash(page, re.compile(rf"^Permohonan {REQUEST_NUMBER.pattern} terkirim\.$"))
    expect(filed).to_be_visible()
    number = REQUEST_NUMBER.search(filed.inner_text()).group(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sistem Informasi Puskesmas {number}")
    expect(definition(page, "Sub-domain")).to_have_text(f"{journey.subdomain}.{live_panel.zone}")
    expect(definition(page, "Berkas aplikasi")).to_have_text(re.compile(r"^[0-9a-f]{12}$"))

    # The timeline: the OPD's step is done, the Kabid's is running against its 5-minute Mutu Baku.
    rows = page.get_by_role("region", name="Lini masa").get_by_role("row")
    expect(rows).to_have_count(3)  # the header and two steps
    expect(rows.nth(1)).to_contain_text("Mulai: OPD mengajukan surat permohonan")
    expect(rows.nth(1)).to_contain_text("Rina Marlina")
    expect(rows.nth(2)).to_contain_text("Menerima surat permohonan")
    expect(rows.nth(2)).to_contain_text("berjalan")
    expect(rows.nth(2)).to_contain_text("5 menit")
    attachments = page.get_by_role("region", name="Lampiran")
    expect(attachments.get_by_role("link", name="Surat permohonan")).to_be_visible()
    expect(attachments.get_by_role("link", name="Rekomendasi Tim Teknis")).to_be_visible()
    screenshot(page, "permohonan-lini-masa", full_page=True)
    journey.request_number = number


def test_data_center_staff_take_the_request_to_a_running_app(page: Page, live_panel: LivePanel) -> None:
    journey = live_panel.journey
    journey.needs("request_number")
    number = journey.request_number

    # 2: the Kabid receives the letter with the Kadis disposition.
    sign_in(page, live_panel.usernames[RoleKey.HEAD])
    open_request(page, number)
    expect(current_step(page)).to_contain_text("Menerima surat permohonan")
    page.get_by_label("Catatan").fill("Disposisi Kadis: proses sesuai SOP.")
    page.get_by_role("button", name="Selesaikan langkah").click()
    expect(flash(page, "Langkah dicatat.")).to_be_visible()
    expect(current_step(page)).to_contain_text("Menelaah dan berkoordinasi")
    sign_out(page)

    # 3: the Sub Koordinator reviews it with the OPD and approves.
    sign_in(page, live_panel.usernames[RoleKey.COORDINATOR])
    open_request(page, number)
    page.get_by_label("Catatan").fill("Sudah dikoordinasikan dengan Dinas Kesehatan.")
    page.get_by_role("button", name="Setujui").click()
    expect(flash(page, "Langkah dicatat.")).to_be_visible()
    expect(current_step(page)).to_contain_text("Verifikasi dan evaluasi keamanan")
    sign_out(page)

    # 4–6: the technician scans, allocates, deploys and issues the Web Panel login.
    fqdn = f"{journey.subdomain}.{live_panel.zone}"
    sign_in(page, live_panel.usernames[RoleKey.TECHNICIAN])
    open_request(page, number)
    page.get_by_role("button", name="Pindai berkas aplikasi").click()
    expect(current_step(page)).to_contain_text("Pemeriksaan ketersediaan IP/sub-domain", timeout=SCAN_MS)
    page.get_by_role("button", name=f"Periksa dan alokasikan {fqdn}").click()
    expect(flash(page, f"{fqdn} dialokasikan.")).to_be_visible(timeout=SCAN_MS)
    expect(current_step(page)).to_contain_text("Mengunggah berkas aplikasi ke server")
    page.get_by_role("button", name="Pasang aplikasi ke server").click()
    expect(page.get_by_text("Rilis ke-1 berjalan.")).to_be_visible(timeout=DEPLOY_MS)
    progress = page.get_by_role("progressbar", name=re.compile("^Pemasangan aplikasi"))
    expect(progress).to_have_attribute("value", "100")
    screenshot(page, "permohonan-terpasang", full_page=True)

    page.get_by_role("button", name="Terbitkan login Web Panel").click()
    expect(page.get_by_role("heading", name="Login Web Panel diterbitkan")).to_be_visible()
    expect(definition(page, "Sub-domain")).to_have_text(fqdn)
    password = definition(page, "Kata sandi").inner_text().strip()
    assert len(password) >= 12
    journey.web_panel = {"url": definition(page, "Alamat Web Panel").inner_text().strip(),
                         "username": definition(page, "Nama pengguna").inner_text().strip(),
                         "password": password}
    # The documentation's picture never shows a real password.
    definition(page, "Kata sandi").locator("code").evaluate("code => code.textContent = '•'.repeat(16)")
    screenshot(page, "login-web-panel")

    # The app answers at http://<sub>.<zone>/ through the testbed's nginx.
    assert fetch(live_panel.nginx, fqdn) == (200, f"<h1>{journey.marker}</h1>\n")


def test_web_panel_account_must_change_the_issued_password_first(page: Page, live_panel: LivePanel) -> None:
    journey = live_panel.journey
    journey.needs("web_panel")
    account = journey.web_panel
    assert account["url"] == f"{live_panel.url}/"

    page.goto(account["url"])
    sign_in(page, account["username"], account["password"])
    expect(page).to_have_url(re.compile(r"/account/password$"))
    expect(page.get_by_text("Kata sandi Anda dibuat oleh sistem.")).to_be_visible()
    # Nothing else opens before the password is changed.
    page.get_by_role("navigation", name="Menu utama").get_by_role("link", name="Web Panel").click()
    expect(page).to_have_url(re.compile(r"/account/password$"))
    screenshot(page, "ganti-kata-sandi")

    page.get_by_label("Kata sandi saat ini").fill(account["password"])
    page.get_by_label("Kata sandi baru", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Ulangi kata sandi baru").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Simpan").click()
    expect(flash(page, "Kata sandi diganti.")).to_be_visible()
    # The account lands on its one app's Web Panel.
    expect(page).to_have_url(re.compile(r"/apps/\d+$"))
    expect(page.get_by_role("main")).to_contain_text(f"{journey.subdomain}.{live_panel.zone}")
    expect(page.get_by_role("main")).to_contain_text("Berjalan")
    screenshot(page, "web-panel", full_page=True)

    # The issued password no longer opens the account; the new one does.
    sign_out(page)
    page.get_by_label("Nama pengguna").fill(account["username"])
    page.get_by_label("Kata sandi").fill(account["password"])
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("alert")).to_be_visible()
    sign_in(page, account["username"], NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/apps/\d+$"))
    account["password"] = NEW_PASSWORD
    journey.web_panel_page = page.url


def test_web_panel_account_uploads_a_new_version_and_rolls_it_back(
    page: Page, live_panel: LivePanel, tmp_path: Path,
) -> None:
    journey = live_panel.journey
    journey.needs("web_panel_page")
    fqdn = f"{journey.subdomain}.{live_panel.zone}"
    marker = f"{journey.marker}, versi 2"
    bundle = tmp_path / "sipuskesmas-v2.tar.gz"
    bundle.write_bytes(flow.site(marker))

    sign_in(page, journey.web_panel["username"], journey.web_panel["password"])
    expect(page).to_have_url(journey.web_panel_page)
    web_panel = page.get_by_role("navigation", name="Web Panel")

    # The new version is scanned and, being clean, deployed at once as release 2.
    web_panel.get_by_role("link", name="Versi baru").click()
    expect(page.get_by_role("heading", name="Unggah versi baru")).to_be_visible()
    page.get_by_label("Berkas versi baru").set_input_files(bundle)
    page.get_by_role("button", name="Unggah dan pindai").click()
    expect(flash(page, re.compile(r"^Versi baru #\d+ diterima dan sedang dipindai\.$"))).to_be_visible()
    uploaded = page.get_by_role("row").filter(has_text=bundle.name)
    expect(uploaded).to_have_count(1)
    expect(uploaded.get_by_role("cell", name="Rilis ke-2", exact=True)).to_be_visible(timeout=DEPLOY_MS)
    expect(uploaded).to_contain_text("Terpasang")
    expect(uploaded).to_contain_text("Bersih")
    expect(uploaded.get_by_role("link", name="Laporan pemindaian")).to_be_visible()
    screenshot(page, "web-panel-unggah", full_page=True)
    assert fetch(live_panel.nginx, fqdn) == (200, f"<h1>{marker}</h1>\n")

    # Release 1 is one click away: it starts, is health-checked, and nginx switches back to it.
    web_panel.get_by_role("link", name="Riwayat rilis").click()
    expect(page.get_by_role("heading", name="Riwayat rilis")).to_be_visible()
    first, second = (page.get_by_role("row").filter(
        has=page.get_by_role("cell", name=f"Rilis ke-{number}", exact=True)) for number in (1, 2))
    expect(second).to_contain_text("Berjalan")
    expect(first).to_contain_text("Digantikan")
    page.get_by_role("button", name="Kembali ke rilis sebelumnya").click()
    done = flash(page, "Kembali ke rilis sebelumnya: Kembali ke rilis ke-1")
    expect(done).to_be_visible(timeout=DEPLOY_MS)
    expect(first).to_contain_text("Berjalan")
    expect(second).to_contain_text("Digantikan")
    screenshot(page, "web-panel-rilis", full_page=True)
    assert fetch(live_panel.nginx, fqdn) == (200, f"<h1>{journey.marker}</h1>\n")
    # The Web Panel's overview agrees.
    web_panel.get_by_role("link", name="Ringkasan").click()
    expect(definition(page, "Rilis berjalan")).to_contain_text("Rilis ke-1 sejak")


def test_officials_receive_the_report_and_the_kabid_closes_it_from_the_dashboard(
    page: Page, live_panel: LivePanel,
) -> None:
    journey = live_panel.journey
    journey.needs("web_panel")
    number = journey.request_number

    # 7: the Sub Koordinator receives the hosting report letter.
    sign_in(page, live_panel.usernames[RoleKey.COORDINATOR])
    open_request(page, number)
    expect(current_step(page)).to_contain_text("laporan penggunaan sub-domain dan hosting ke Sub Koordinator")
    with page.expect_download() as letter:
        page.get_by_role("region", name="Lampiran").get_by_role("link", name="Surat laporan hosting").click()
    assert Path(letter.value.path()).read_bytes().startswith(b"%PDF")
    page.get_by_label("Catatan").fill("Laporan hosting diterima.")
    page.get_by_role("button", name="Selesaikan langkah").click()
    expect(flash(page, "Langkah dicatat.")).to_be_visible()
    sign_out(page)

    # 8: the Kabid finds it among the steps waiting for them on the dashboard.
    sign_in(page, live_panel.usernames[RoleKey.HEAD])
    expect(page.get_by_role("heading", name="Beranda", level=1)).to_be_visible()
    waiting = page.get_by_role("region", name="Langkah yang menunggu Anda")
    row = waiting.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))
    expect(row).to_contain_text("Menyampaikan laporan ke Kabid")
    expect(row).to_contain_text("Sistem Informasi Puskesmas · Dinas Kesehatan")
    expect(row).to_contain_text("Dalam batas")
    screenshot(page, "beranda")

    row.get_by_role("link", name=number, exact=True).click()
    page.get_by_label("Catatan").fill("Laporan diterima Kabid.")
    page.get_by_role("button", name="Selesaikan langkah").click()
    expect(flash(page, "Langkah dicatat.")).to_be_visible()
    expect(page.locator(".heading .badge")).to_have_text("Selesai")  # the request's status
    expect(current_step(page)).to_have_count(0)
    rows = page.get_by_role("region", name="Lini masa").get_by_role("row")
    expect(rows).to_have_count(9)  # the header and the SOP's eight steps
    expect(rows.filter(has_text="berjalan")).to_have_count(0)

    page.get_by_role("link", name="Beranda").click()
    expect(page.get_by_role("region", name="Langkah yang menunggu Anda")).to_contain_text(
        "Tidak ada langkah yang menunggu Anda.")


def test_official_downloads_the_monthly_report_pdf(page: Page, live_panel: LivePanel) -> None:
    live_panel.journey.needs("request_number")
    sign_in(page, live_panel.usernames[RoleKey.HEAD])
    page.get_by_role("link", name="Laporan").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Laporan")
    screenshot(page, "laporan", full_page=True)
    with page.expect_download() as report:
        page.get_by_role("link", name="Unduh laporan bulanan (PDF)").click()
    pdf = PdfReader(report.value.path())
    text = "".join(p.extract_text() for p in pdf.pages)
    assert live_panel.journey.request_number.split("/")[-1] in text  # the year it covers
