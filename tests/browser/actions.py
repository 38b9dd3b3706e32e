"""What a person does in the panel, written once for the browser journeys."""
from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.panel import factories

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def sign_in(page: Page, username: str, password: str = factories.PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(password)
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("button", name="Keluar")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Keluar").click()
    expect(flash(page, "Anda telah keluar.")).to_be_visible()


def flash(page: Page, text: str | re.Pattern[str]) -> Locator:
    """Return the flashed message reading `text` (a job's progress is a status region too)."""
    return page.get_by_role("status").filter(has_text=text)


def open_request(page: Page, number: str) -> None:
    """Open a request from the Permohonan list by its number, as a person would."""
    page.get_by_role("navigation", name="Menu utama").get_by_role("link", name="Permohonan").click()
    page.get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)


def current_step(page: Page) -> Locator:
    return page.get_by_role("heading", name="Langkah saat ini")


def definition(page: Page, term: str) -> Locator:
    """Return the <dd> that follows the <dt> reading `term`."""
    return page.get_by_role("term").filter(has_text=term).locator("xpath=following-sibling::dd[1]")


def screenshot(page: Page, name: str, full_page: bool = False) -> None:
    """Save docs/screenshots/`name`.png, only when WADAH_SCREENSHOTS=1 (normal runs leave them alone)."""
    if os.environ.get("WADAH_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)
