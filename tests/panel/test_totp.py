"""The optional TOTP second factor: enrolment, sign-in, replays and window, recovery codes, throttling."""
from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from panel.extensions import db
from panel.models import AuditEvent, RecoveryCode, RoleKey, User
from panel.services.accounts import login_throttle, totp
from tests.panel import factories
from tests.panel.conftest import csrf_token


class Clock:
    """The time the TOTP checks see, moved by hand so codes and steps are predictable."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    def code(self, secret: str, offset_seconds: int = 0) -> str:
        return pyotp.TOTP(secret).at(self.now + timedelta(seconds=offset_seconds))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(totp, "utcnow", lambda: clock.now)
    return clock


def _totp_user(clock: Clock, role: RoleKey = RoleKey.TECHNICIAN) -> tuple[User, str, list[str]]:
    """Create a user with the second factor on; return it, its secret and its recovery codes."""
    user = factories.user(roles=[role])
    secret = totp.new_secret()
    codes = totp.enable(user, secret, clock.code(secret))
    db.session.commit()
    clock.advance(30)  # the enrolment code's step is spent: sign-ins use the next one
    return user, secret, codes


def _password_step(client: FlaskClient, user: User, password: str = factories.PASSWORD,
                   path: str = "/login") -> TestResponse:
    return client.post(path, data={"username": user.username, "password": password,
                                   "csrf_token": csrf_token(client, "/login")})


def _code_step(client: FlaskClient, code: str) -> TestResponse:
    return client.post("/login/totp", data={"code": code, "csrf_token": csrf_token(client, "/login/totp")})


def _sign_in(client: FlaskClient, user: User, code: str) -> TestResponse:
    """Sign in with the password and then `code`; return the answer to the code."""
    response = _password_step(client, user)
    assert response.status_code == 302 and response.location == "/login/totp"
    return _code_step(client, code)


def _sign_out(client: FlaskClient) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def _enrolment_page(client: FlaskClient) -> tuple[str, str]:
    page = client.get("/account/totp").get_data(as_text=True)
    match = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert match, "no secret on the enrolment page"
    return page, match.group(1)


def _enrol(client: FlaskClient, code: str, password: str = factories.PASSWORD) -> TestResponse:
    return client.post("/account/totp", data={"password": password, "code": code,
                                              "csrf_token": csrf_token(client, "/account/totp")})


def _actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


# Enrolment


def test_enrolment_needs_the_password_and_a_correct_code(client: FlaskClient, login_as, clock: Clock) -> None:
    # A per-app Web Panel account enrols exactly like a data-center user.
    user = login_as(RoleKey.APP_ACCOUNT)
    _page, secret = _enrolment_page(client)
    assert _enrolment_page(client)[1] == secret  # a reload keeps the secret already scanned

    wrong = f"{(int(clock.code(secret)) + 1) % 1_000_000:06d}"
    assert "Kode verifikasi salah" in _enrol(client, wrong).get_data(as_text=True)
    assert "Kata sandi saat ini salah" in _enrol(client, clock.code(secret), "not-the-password").get_data(
        as_text=True)
    db.session.refresh(user)
    assert not user.totp_enabled

    response = _enrol(client, clock.code(secret))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", response.get_data(as_text=True))
    assert len(codes) == totp.RECOVERY_CODE_COUNT == len(set(codes))
    db.session.refresh(user)
    assert user.totp_enabled and user.totp_secret == secret
    assert "auth.totp_enable" in _actions()

    # The recovery codes were shown once: the page now only offers to switch the factor off.
    page = client.get("/account/totp").get_data(as_text=True)
    assert "Sisa kode pemulihan yang belum dipakai: 8" in page
    assert not any(code in page for code in codes) and secret not in page


def test_qr_code_is_inline_svg_without_style_attributes(client: FlaskClient, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    response = client.get("/account/totp")
    page = response.get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", page, re.DOTALL)
    assert svg, "no inline SVG QR code"
    assert "style=" not in svg.group(0) and "<script" not in svg.group(0)
    assert "style-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


# Signing in


@pytest.mark.parametrize("role", [RoleKey.APP_ACCOUNT, RoleKey.SUPERADMIN])
def test_sign_in_requires_the_code(client: FlaskClient, clock: Clock, role: RoleKey) -> None:
    user, secret, _codes = _totp_user(clock, role)
    response = _password_step(client, user, path="/login?next=/apps")
    assert response.status_code == 302 and response.location == "/login/totp"
    assert "auth.login" not in _actions()  # the password alone signs nobody in
    assert client.get("/").status_code == 302

    response = _code_step(client, clock.code(secret))
    assert response.status_code == 302 and response.location == "/apps"
    assert client.get("/").status_code == 200
    assert _actions()[-2:] == ["auth.second_factor_required", "auth.login"]


def test_pending_second_factor_opens_no_page(client: FlaskClient, clock: Clock) -> None:
    user, _secret, _codes = _totp_user(clock)
    _password_step(client, user)
    for path in ("/", "/apps", "/account/tokens", "/account/totp", "/account/password", "/admin/hosts"):
        response = client.get(path)
        assert response.status_code == 302 and "/login?next=" in response.location, path
    assert client.get("/api/v1/me").status_code == 401


def test_second_factor_page_without_a_pending_sign_in_sends_to_login(client: FlaskClient) -> None:
    response = client.get("/login/totp")
    assert response.status_code == 302 and response.location == "/login"


def test_pending_sign_in_expires(client: FlaskClient, clock: Clock) -> None:
    user, secret, _codes = _totp_user(clock)
    _password_step(client, user)
    token = csrf_token(client, "/login/totp")
    with client.session_transaction() as session:
        pending = session["pending_second_factor"]
        session["pending_second_factor"] = {**pending, "expires": pending["expires"] - 10 * 60}
    response = client.post("/login/totp", data={"code": clock.code(secret), "csrf_token": token})
    assert response.status_code == 302 and response.location == "/login"
    assert client.get("/").status_code == 302


def test_replayed_code_is_refused(client: FlaskClient, clock: Clock) -> None:
    user, secret, _codes = _totp_user(clock)
    code = clock.code(secret)
    assert _sign_in(client, user, code).status_code == 302
    _sign_out(client)

    response = _sign_in(client, user, code)  # same code, still inside its window
    assert response.status_code == 401
    assert "Kode sudah dipakai" in response.get_data(as_text=True)
    # An older code, though inside the window, is refused as well: steps only move forward.
    assert _code_step(client, clock.code(secret, -30)).status_code == 401
    assert client.get("/").status_code == 302

    clock.advance(30)
    assert _code_step(client, clock.code(secret)).status_code == 302


@pytest.mark.parametrize("offset", [-90, -60, 60, 90])
def test_code_outside_the_window_is_refused(client: FlaskClient, clock: Clock, offset: int) -> None:
    user, secret, _codes = _totp_user(clock)
    clock.advance(120)  # keep every tried step after the one spent at enrolment
    response = _sign_in(client, user, clock.code(secret, offset))
    assert response.status_code == 401
    assert "Kode verifikasi salah" in response.get_data(as_text=True)
    assert _code_step(client, clock.code(secret, -30)).status_code == 302  # one step off is accepted


def test_recovery_code_works_once(client: FlaskClient, clock: Clock) -> None:
    user, _secret, codes = _totp_user(clock, RoleKey.APP_ACCOUNT)
    # Typed in capitals and without the dashes: still the same code.
    assert _sign_in(client, user, codes[0].replace("-", "").upper()).status_code == 302
    assert client.get("/").status_code == 200
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.recovery_code_used"))
    assert event is not None and event.details == {"remaining": 7}
    _sign_out(client)

    assert _sign_in(client, user, codes[0]).status_code == 401
    assert _code_step(client, codes[1]).status_code == 302


def test_wrong_codes_count_toward_the_same_throttle_as_wrong_passwords(
        app: Flask, client: FlaskClient, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login_throttle, "utcnow", lambda: clock.now)
    user, secret, _codes = _totp_user(clock)
    wrong = f"{(int(clock.code(secret)) + 1) % 1_000_000:06d}"
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    assert free >= 2
    # One wrong password first, then wrong codes, with the password entered again in between:
    # a correct password must not wipe out the failures that wrong codes built up.
    assert _password_step(client, user, "wrong-password-xyz").status_code == 401
    for _ in range(free):
        assert _sign_in(client, user, wrong).status_code == 401
    assert "auth.throttle" in _actions() and "auth.second_factor_failed" in _actions()

    # Held back: neither the password step nor a right code gets through from this browser...
    assert _password_step(client, user).status_code == 401
    response = _code_step(client, clock.code(secret))  # the marker from the last password step
    assert response.status_code == 401 and "Terlalu banyak percobaan" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    # ...but the same person from another address is not locked out by it.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert _sign_in(elsewhere, user, clock.code(secret)).status_code == 302
    assert elsewhere.get("/").status_code == 200

    # Once the wait is over, this browser may try again.
    _sign_out(elsewhere)
    clock.advance(60)
    assert _sign_in(client, user, clock.code(secret)).status_code == 302


# Switching it off


def test_disabling_needs_the_password_and_a_code(client: FlaskClient, login_as, clock: Clock) -> None:
    user = login_as(RoleKey.TECHNICIAN)
    secret = totp.new_secret()
    totp.enable(user, secret, clock.code(secret))
    db.session.commit()
    clock.advance(30)

    def disable(password: str, code: str) -> None:
        client.post("/account/totp/disable", data={
            "password": password, "code": code, "csrf_token": csrf_token(client, "/account/totp")})

    disable("wrong-password-xyz", clock.code(secret))
    db.session.refresh(user)
    assert user.totp_enabled
    disable(factories.PASSWORD, "000000" if clock.code(secret) != "000000" else "111111")
    db.session.refresh(user)
    assert user.totp_enabled
    disable(factories.PASSWORD, "")
    db.session.refresh(user)
    assert user.totp_enabled

    disable(factories.PASSWORD, clock.code(secret))
    db.session.refresh(user)
    assert not user.totp_enabled and user.totp_last_step is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    assert "auth.totp_disable" in _actions()

    _sign_out(client)
    response = _password_step(client, user)
    assert response.status_code == 302 and response.location == "/"  # signed in by the password alone


# Secrecy


def test_secret_and_recovery_codes_stay_secret(app: Flask, client: FlaskClient, login_as, clock: Clock,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user = login_as(RoleKey.OPD_ADMIN)
    _page, secret = _enrolment_page(client)
    # The secret being enrolled rides in the session cookie only encrypted.
    cookie = client.get_cookie("wadah_session")
    assert cookie is not None
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value)  # type: ignore[attr-defined]
    assert secret not in json.dumps(session)

    response = _enrol(client, clock.code(secret))
    codes = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", response.get_data(as_text=True))
    assert codes
    _sign_out(client)
    clock.advance(30)
    assert _sign_in(client, user, clock.code(secret)).status_code == 302

    with db.engine.connect() as connection:
        raw = connection.execute(sa.text("SELECT totp_secret FROM users WHERE id = :id"),
                                 {"id": user.id}).scalar_one()
        digests = connection.execute(sa.text("SELECT code_sha256 FROM recovery_codes")).scalars().all()
    assert raw and secret not in raw and secret.lower() not in raw.lower()
    assert len(digests) == len(codes) and not {c.replace("-", "") for c in codes} & set(digests)

    details = json.dumps([event.details for event in db.session.scalars(sa.select(AuditEvent))])
    assert secret not in details and not any(code in details for code in codes)
    assert secret not in caplog.text and not any(code in caplog.text for code in codes)


def test_audit_refuses_a_detail_named_like_the_secret(app: Flask) -> None:
    from panel import audit

    with pytest.raises(ValueError, match="secrets"):
        audit.record("auth.totp_enable", None, totp_secret="JBSWY3DPEHPK3PXP")


def test_a_superadmin_without_a_second_factor_must_enrol_before_anything_else(app, client) -> None:
    admin = factories.user([RoleKey.SUPERADMIN])
    db.session.commit()
    _password_step(client, admin)
    for page in ("/", "/admin/hosts", "/audit", "/requests"):
        response = client.get(page)
        assert response.status_code == 302 and response.location.endswith("/account/totp"), page
    assert client.get("/account/totp").status_code == 200
    # Other roles keep it optional.
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    other = app.test_client()
    _password_step(other, technician)
    assert other.get("/").status_code == 200


# Changing the second factor ends every other session


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("wadah_session")
    assert cookie is not None
    return cookie.value


def test_switching_the_second_factor_on_ends_sessions_from_before(app: Flask, client: FlaskClient, login_as,
                                                                 clock: Clock) -> None:
    user = login_as(RoleKey.OPD_ADMIN)
    other = app.test_client()
    _password_step(other, user)
    assert other.get("/").status_code == 200
    _page, secret = _enrolment_page(client)
    captured = _cookie(client)

    assert _enrol(client, clock.code(secret)).status_code == 200
    assert client.get("/").status_code == 200  # this session is issued again
    assert other.get("/").status_code == 302  # a session signed in by the password alone is over
    client.set_cookie("wadah_session", captured)
    assert client.get("/").status_code == 302  # and so is this browser's cookie from before


def test_switching_the_second_factor_off_ends_sessions_from_before(app: Flask, clock: Clock) -> None:
    user, secret, _codes = _totp_user(clock)
    mine, other = app.test_client(), app.test_client()
    assert _sign_in(mine, user, clock.code(secret)).status_code == 302
    clock.advance(30)
    assert _sign_in(other, user, clock.code(secret)).status_code == 302
    captured = _cookie(mine)
    clock.advance(30)
    mine.post("/account/totp/disable", data={"password": factories.PASSWORD, "code": clock.code(secret),
                                             "csrf_token": csrf_token(mine, "/account/totp")})
    db.session.refresh(user)
    assert not user.totp_enabled
    assert mine.get("/").status_code == 200
    assert other.get("/").status_code == 302
    mine.set_cookie("wadah_session", captured)
    assert mine.get("/").status_code == 302


def test_a_password_change_voids_a_half_finished_sign_in(app: Flask, client: FlaskClient,
                                                         clock: Clock) -> None:
    user, secret, _codes = _totp_user(clock)
    assert _password_step(client, user).status_code == 302  # someone holding the old password, halfway in
    token = csrf_token(client, "/login/totp")
    owner = app.test_client()
    assert _sign_in(owner, user, clock.code(secret)).status_code == 302
    new = "another-long-passphrase-77"
    owner.post("/account/password", data={"current": factories.PASSWORD, "new": new, "confirm": new,
                                          "csrf_token": csrf_token(owner, "/account/password")})
    clock.advance(30)
    response = client.post("/login/totp", data={"code": clock.code(secret), "csrf_token": token})
    assert response.status_code == 302 and response.location == "/login"
    assert client.get("/").status_code == 302
