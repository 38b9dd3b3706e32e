"""Every report download through the real web process (`wadah web`, gunicorn), not the test client.

The test client keeps the test's app context, and so its database session, alive across a request; a
real process closes both before a streamed response is read, so only it shows what an official gets.
"""
from __future__ import annotations

import csv
import http.cookiejar
import io
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from pypdf import PdfReader

from panel import config as configuration
from panel import create_app, database
from panel.blueprints.reports import READERS
from panel.extensions import db
from panel.models import RoleKey
from panel.models.base import utcnow
from panel.services.accounts import totp
from panel.services.reports.exports import APP_HEADER, REQUEST_HEADER
from panel.services.reports.periods import Month
from panel.services.requests import workflow
from tests.panel import factories
from tests.panel.agent import free_port
from tests.panel.report_data import seed, xlsx_rows

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
START_WAIT_S = 60


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, dict[RoleKey, tuple[str, str | None]], Month, Path]]:
    """Seed a month of data, run `wadah web` on it; yield its URL, one sign-in per reader role, the month
    and the web log."""
    tmp_path = tmp_path_factory.mktemp("served")
    state = tmp_path / "wadah"
    instance = state / "panel"
    configuration.write_instance_file(instance, {})
    database.upgrade(f"sqlite:///{instance / 'wadah.db'}")
    app = create_app({"INSTANCE_PATH": str(instance)})
    month = Month.current(utcnow())
    users: dict[RoleKey, tuple[str, str | None]] = {}
    with app.app_context():
        workflow.ensure_builtin_templates()
        seed(month)
        for role in READERS:
            user = factories.user(roles=[role])
            secret = None
            if role in app.config["TOTP_REQUIRED_ROLES"]:
                secret = totp.new_secret()
                earlier = utcnow() - timedelta(seconds=90)
                totp.enable(user, secret, pyotp.TOTP(secret).at(earlier), now=earlier)
            users[role] = (user.username, secret)
        db.session.commit()
        db.session.remove()

    port = free_port()
    log = tmp_path / "web.log"
    # Plain HTTP on loopback with no proxy in front: the cookies must travel without TLS.
    env = {**os.environ, "WADAH_SESSION_COOKIE_SECURE": "false", "WADAH_REMEMBER_COOKIE_SECURE": "false",
           "WADAH_TRUSTED_PROXIES": "0", "WADAH_RATELIMIT_ENABLED": "false"}
    env.pop("WADAH_STATE_DIR", None)
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "panel.cli", "--state-dir", str(state), "web",
             "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + START_WAIT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/login", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the web process did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield url, users, month, log
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _csv(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


class Browser:
    """A signed-in official's browser: cookies kept, forms posted with their CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=60) as answer:
                return answer.status, answer.headers.get_content_type(), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get_content_type(), error.read()

    def post_form(self, path: str, fields: dict[str, str]) -> str:
        page = self.get(path)[2].decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token, f"no CSRF token on {path}"
        data = urllib.parse.urlencode({**fields, "csrf_token": token[1]}).encode()
        with self.opener.open(self.base + path, data=data, timeout=60) as answer:
            return answer.url

    def sign_in(self, username: str, secret: str | None) -> None:
        landed = self.post_form("/login", {"username": username, "password": factories.PASSWORD})
        if secret is not None:
            landed = self.post_form("/login/totp", {"code": pyotp.TOTP(secret).now()})
        assert "/login" not in urllib.parse.urlparse(landed).path, landed


@pytest.mark.parametrize("role", READERS)
def test_every_report_download_holds_its_rows(served, role: RoleKey) -> None:
    url, users, month, log = served
    browser = Browser(url)
    browser.sign_in(*users[role])
    period = f"dari={month.first_day.isoformat()}&sampai={month.last_day.isoformat()}"

    downloads = {}
    for path in (f"/reports/apps.csv?{period}", f"/reports/apps.xlsx?{period}",
                 f"/reports/requests.csv?{period}", f"/reports/requests.xlsx?{period}",
                 f"/reports/monthly/{month.key}.pdf"):
        status, mimetype, body = browser.get(path)
        assert status == 200, (path, status, body[:500])
        downloads[path.partition("?")[0]] = (mimetype, body)

    apps_csv = _csv(downloads["/reports/apps.csv"][1])
    apps_xlsx = xlsx_rows(downloads["/reports/apps.xlsx"][1])
    # Three apps were registered in the month (seed), one of them not yet placed on a server.
    for rows in (apps_csv, apps_xlsx):
        assert rows[0] == list(APP_HEADER)
        assert len(rows[1:]) == 3, rows
        assert sum(row[4] == "Belum ditempatkan" for row in rows[1:]) == 1
    requests_csv = _csv(downloads["/reports/requests.csv"][1])
    requests_xlsx = xlsx_rows(downloads["/reports/requests.xlsx"][1])
    # Two requests filed in the month (seed), a row for each of their steps.
    for rows in (requests_csv, requests_xlsx):
        assert rows[0] == list(REQUEST_HEADER)
        assert {row[2] for row in rows[1:]} == {"E-Rapor", "SIMPEG"}, rows
        assert len(rows) == len(requests_csv) > 3
    mimetype, pdf = downloads[f"/reports/monthly/{month.key}.pdf"]
    assert mimetype == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert f"4 aplikasi pada akhir {month.label}" in text and "Dinas Kesehatan" in text
    assert "Traceback" not in log.read_text()
