"""Signing in and out: passwords, sessions that end on the server, cookies, and guessing slowed down."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from panel.extensions import db
from panel.models import AuditEvent, LoginThrottle, RoleKey
from panel.services.accounts import accounts, login_throttle
from tests.panel import factories
from tests.panel.conftest import csrf_token

NEW_PASSWORD = "a-brand-new-passphrase-42"


def _attempt(client: FlaskClient, username: str, password: str) -> TestResponse:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def _login(client: FlaskClient, username: str, password: str) -> int:
    return _attempt(client, username, password).status_code


def _client_at(app: Flask, address: str) -> FlaskClient:
    """Return a browser whose requests come from `address`."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def _session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("wadah_session")
    assert cookie is not None
    return cookie.value


def _replay(client: FlaskClient, captured: str) -> None:
    """Put a session cookie captured earlier back into `client`, byte for byte."""
    client.set_cookie("wadah_session", captured)


def _signed_in(client: FlaskClient) -> bool:
    response = client.get("/")
    return response.status_code == 200


def _actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


class Clock:
    """The time the sign-in throttle sees, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(login_throttle, "utcnow", lambda: clock.now)
    return clock


def test_login_with_right_password_lands_on_dashboard(client: FlaskClient) -> None:
    user = factories.user(roles=[RoleKey.TECHNICIAN])
    db.session.commit()
    assert _login(client, user.username, factories.PASSWORD) == 302
    page = client.get("/")
    assert page.status_code == 200
    assert "Aplikasi berjalan" in page.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login"))


def test_wrong_password_and_unknown_user_get_the_same_answer(client: FlaskClient) -> None:
    user = factories.user()
    db.session.commit()
    assert _login(client, user.username, "wrong-password-xyz") == 401
    assert _login(client, "nobody-here", "wrong-password-xyz") == 401
    assert client.get("/").status_code == 302  # still signed out


def test_login_without_csrf_token_is_refused(client: FlaskClient) -> None:
    user = factories.user()
    db.session.commit()
    response = client.post("/login", data={"username": user.username, "password": factories.PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_password_is_stored_as_argon2id(client: FlaskClient) -> None:
    user = factories.user()
    assert user.password_hash.startswith("$argon2id$")
    assert factories.PASSWORD not in user.password_hash


def test_short_password_is_refused(app) -> None:
    import pytest

    from panel.services.accounts.passwords import WeakPassword

    with pytest.raises(WeakPassword):
        factories.user(password="short-pass1")  # 11 characters


def test_generated_password_must_be_changed_before_anything_else(client, login_as) -> None:
    user = login_as(RoleKey.TECHNICIAN)
    user.must_change_password = True
    db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and response.location.endswith("/account/password")
    token = csrf_token(client, "/account/password")
    new = "a-brand-new-passphrase-42"
    response = client.post("/account/password", data={
        "current": factories.PASSWORD, "new": new, "confirm": new, "csrf_token": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this session was issued again, not ended
    db.session.refresh(user)
    assert not user.must_change_password


def test_open_redirect_after_login_is_refused(client: FlaskClient) -> None:
    user = factories.user()
    db.session.commit()
    token = csrf_token(client, "/login")
    response = client.post("/login?next=//evil.example/x", data={
        "username": user.username, "password": factories.PASSWORD, "csrf_token": token})
    assert response.location == "/"


def test_logout_requires_post(client: FlaskClient, login_as) -> None:
    login_as(RoleKey.AUDITOR)
    assert client.get("/logout").status_code == 405
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_security_headers_on_every_page(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient, login_as) -> None:
    login_as(RoleKey.AUDITOR)
    cookie = client.get_cookie("wadah_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_pages_renew_the_idle_session_but_background_polls_do_not(client: FlaskClient, login_as) -> None:
    login_as(RoleKey.TECHNICIAN)
    assert "wadah_session=" in client.get("/").headers.get("Set-Cookie", "")
    poll = client.get("/dashboard/steps")
    assert poll.status_code == 200 and "Set-Cookie" not in poll.headers


# Sessions end on the server: a cookie captured before sign-out or a password change is worthless.


def _change_password(client: FlaskClient, current: str = factories.PASSWORD,
                     new: str = NEW_PASSWORD) -> TestResponse:
    return client.post("/account/password", data={
        "current": current, "new": new, "confirm": new,
        "csrf_token": csrf_token(client, "/account/password")})


def test_a_cookie_replayed_after_sign_out_signs_nobody_in(client: FlaskClient, login_as) -> None:
    user = login_as(RoleKey.TECHNICIAN)
    captured = _session_cookie(client)
    form_token = csrf_token(client, "/account/password")  # valid for the captured session
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 302

    _replay(client, captured)
    response = client.get("/requests")
    assert response.status_code == 302 and "/login?next=" in response.location
    # A write with the old cookie and its own CSRF token is sent to sign in, and changes nothing.
    before = user.password_hash
    response = client.post("/account/password", data={
        "current": factories.PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD,
        "csrf_token": form_token})
    assert response.status_code == 302 and "/login?next=" in response.location
    db.session.refresh(user)
    assert user.password_hash == before
    assert "auth.logout" in _actions() and "auth.password_change" not in _actions()


def test_signing_out_ends_the_users_other_sessions_too(app: Flask, client: FlaskClient) -> None:
    user = factories.user([RoleKey.COORDINATOR])
    db.session.commit()
    laptop, phone = _client_at(app, "10.0.0.5"), _client_at(app, "10.0.0.6")
    assert _login(laptop, user.username, factories.PASSWORD) == 302
    assert _login(phone, user.username, factories.PASSWORD) == 302
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/")})
    assert not _signed_in(phone)
    assert _login(phone, user.username, factories.PASSWORD) == 302 and _signed_in(phone)


def test_a_password_change_ends_every_other_session_and_reissues_this_one(app: Flask) -> None:
    user = factories.user([RoleKey.TECHNICIAN])
    token, secret = factories.api_token(user)
    db.session.commit()
    mine, stolen = _client_at(app, "10.0.0.7"), _client_at(app, "10.0.0.8")
    assert _login(mine, user.username, factories.PASSWORD) == 302
    assert _login(stolen, user.username, factories.PASSWORD) == 302
    captured = _session_cookie(mine)

    response = _change_password(mine)
    assert response.status_code == 302
    assert _signed_in(mine)  # the session that changed it goes on, under a fresh cookie
    assert _session_cookie(mine) != captured
    assert not _signed_in(stolen)  # the other browser is out, on the server
    _replay(mine, captured)
    assert not _signed_in(mine)  # and so is this browser's own cookie from before the change

    # Whoever knew the old password keeps no token made with it either.
    db.session.refresh(token)
    assert token.revoked_at is not None
    api = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401
    assert {"auth.password_change", "api_token.revoke_all"} <= set(_actions())


def test_a_wrong_current_password_changes_nothing(client: FlaskClient, login_as) -> None:
    user = login_as(RoleKey.OPD_ADMIN)
    before = user.password_hash
    page = _change_password(client, current="not-the-password-1")
    assert "Kata sandi saat ini salah" in page.get_data(as_text=True)
    db.session.refresh(user)
    assert user.password_hash == before and _signed_in(client)
    assert "auth.password_check_failed" in _actions()


def test_a_session_cookie_from_before_the_epoch_is_not_accepted(client: FlaskClient) -> None:
    # A cookie that names only the user id (as issued before sessions had an epoch) signs nobody in.
    user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    assert not _signed_in(client)


def test_a_disabled_account_loses_its_sessions_and_tokens(app: Flask, client: FlaskClient, login_as) -> None:
    user = login_as(RoleKey.TECHNICIAN)
    token, secret = factories.api_token(user)
    db.session.commit()
    captured = _session_cookie(client)
    accounts.deactivate(user, by=None)
    db.session.commit()
    _replay(client, captured)
    assert not _signed_in(client)
    db.session.refresh(token)
    assert token.revoked_at is not None
    api = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401
    assert _login(client, user.username, factories.PASSWORD) == 401
    assert {"user.deactivate", "api_token.revoke_all"} <= set(_actions())


# Cookies under HTTPS


def test_under_https_the_session_cookie_is_a_host_cookie(app: Flask, client: FlaskClient) -> None:
    app.config["SESSION_COOKIE_SECURE"] = True
    app.config["SESSION_COOKIE_DOMAIN"] = "contoh.go.id"  # a __Host- cookie may not carry one: ignored
    user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    https = "https://localhost"
    same_origin = {"Referer": f"{https}/login"}  # Flask-WTF checks it under HTTPS
    response = client.post("/login", base_url=https, headers=same_origin, data={
        "username": user.username, "password": factories.PASSWORD,
        "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("__Host-wadah_session="))
    attributes = [part.strip().lower() for part in session_cookie.split(";")[1:]]
    assert "secure" in attributes and "httponly" in attributes and "path=/" in attributes
    assert not any(part.startswith("domain=") for part in attributes)
    assert not any(c.startswith("wadah_session=") for c in cookies)
    assert client.get("/", base_url=https).status_code == 200

    # The language choice is a __Host- cookie too, and is read back under that name.
    client.post("/logout", base_url=https, headers=same_origin, data={"csrf_token": csrf_token(client, "/")})
    chosen = client.post("/account/language", base_url=https, headers=same_origin, data={
        "locale": "en", "next": "/login", "csrf_token": csrf_token(client, "/login")})
    language = next(c for c in chosen.headers.getlist("Set-Cookie") if "wadah_lang=" in c)
    assert language.startswith("__Host-wadah_lang=en;")
    assert "Secure" in language and "Path=/" in language and "Domain=" not in language
    assert "Sign in" in client.get("/login", base_url=https).get_data(as_text=True)


# Guessing is slowed down per account and per address, and nobody can lock anyone else out.


def _answer(response: TestResponse, username: str) -> tuple[int, str]:
    """Return the status and the page, without what differs by design (the name typed, the CSRF token)."""
    page = response.get_data(as_text=True).replace(username, "NAME")
    return response.status_code, re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "CSRF", page)


def test_unknown_name_wrong_password_and_throttled_attempt_get_one_answer(app: Flask, clock: Clock) -> None:
    user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    unknown = _answer(_attempt(_client_at(app, "198.51.100.1"), "nobody-here", "wrong-password-xyz"),
                      "nobody-here")
    wrong = _answer(_attempt(_client_at(app, "198.51.100.2"), user.username, "wrong-password-xyz"),
                    user.username)
    attacker = _client_at(app, "198.51.100.3")
    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 1):
        _attempt(attacker, user.username, "wrong-password-xyz")
    throttled = _attempt(attacker, user.username, factories.PASSWORD)  # right, but held back
    assert unknown == wrong == _answer(throttled, user.username)
    assert unknown[0] == 401 and "terlalu banyak percobaan" in unknown[1]
    assert not _signed_in(attacker)


def test_unknown_names_are_throttled_exactly_like_real_ones(app: Flask, clock: Clock) -> None:
    real = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    prober = _client_at(app, "198.51.100.4")
    for name in (real.username, "nobody-here"):
        for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 1):
            _attempt(prober, name, "wrong-password-xyz")
    rows = {(row.account, row.address): (row.failures, row.blocked_until is not None)
            for row in db.session.scalars(select(LoginThrottle))}
    assert rows[(real.username, "198.51.100.4")] == rows[("nobody-here", "198.51.100.4")]


def test_a_stranger_hammering_an_account_does_not_lock_its_owner_out(app: Flask, clock: Clock) -> None:
    victim = factories.user([RoleKey.COORDINATOR])
    db.session.commit()
    attacker = _client_at(app, "203.0.113.66")
    for _ in range(50):
        assert _login(attacker, victim.username, "guess-password-123") == 401
    # The attacker's own address is held back, even with the right password...
    assert _login(attacker, victim.username, factories.PASSWORD) == 401
    # ...while the owner, from their office, signs in at once.
    office = _client_at(app, "10.20.30.40")
    assert _login(office, victim.username, factories.PASSWORD) == 302 and _signed_in(office)

    failures = db.session.scalar(select(LoginThrottle.failures).where(
        LoginThrottle.account == victim.username, LoginThrottle.address == "203.0.113.66"))
    assert failures == app.config["LOGIN_FREE_ATTEMPTS"] + 1  # refused attempts check no password
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
        ["auth.throttle", "auth.login_throttled"]))).all()
    assert events and all(event.ip == "203.0.113.66" for event in events)
    assert {"scope": "account_address", "failures": 4, "seconds": 2} in [event.details for event in events]


def test_an_attacker_who_keeps_going_only_delays_the_owner_briefly(app: Flask, clock: Clock) -> None:
    victim = factories.user([RoleKey.HEAD])
    db.session.commit()
    # A day of patient guessing from one address, and a burst from many: each waits out its turn.
    attacker = _client_at(app, "203.0.113.67")
    for _ in range(40):
        _login(attacker, victim.username, "guess-password-123")
        clock.advance(app.config["LOGIN_MAX_WAIT_SECONDS"])
    for n in range(30):
        for _ in range(app.config["LOGIN_FREE_ATTEMPTS"]):
            _login(_client_at(app, f"192.0.2.{n + 1}"), victim.username, "guess-password-123")
    held = db.session.scalar(select(LoginThrottle).where(LoginThrottle.account == victim.username,
                                                         LoginThrottle.address == ""))
    assert held is not None and held.failures > app.config["LOGIN_ACCOUNT_FREE_ATTEMPTS"]

    # The owner, from elsewhere, waits at most the short account ceiling, never a lockout.
    clock.advance(app.config["LOGIN_ACCOUNT_MAX_WAIT_SECONDS"])
    office = _client_at(app, "10.20.30.41")
    assert _login(office, victim.username, factories.PASSWORD) == 302 and _signed_in(office)


def test_one_address_spraying_many_accounts_is_held_back(app: Flask, clock: Clock) -> None:
    people = [factories.user([RoleKey.OPD_ADMIN]) for _ in range(3)]
    db.session.commit()
    sprayer = _client_at(app, "203.0.113.68")
    for n in range(app.config["LOGIN_ADDRESS_FREE_ATTEMPTS"] + 1):
        _login(sprayer, f"guess{n}", "guess-password-123")
    assert _login(sprayer, people[0].username, factories.PASSWORD) == 401
    assert _login(_client_at(app, "10.20.30.42"), people[0].username, factories.PASSWORD) == 302
    scopes = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "auth.throttle")).all()
    assert any(details["scope"] == "address" for details in scopes)


def test_the_wait_doubles_and_then_ends(app: Flask, clock: Clock) -> None:
    user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    browser = _client_at(app, "198.51.100.9")
    free = app.config["LOGIN_FREE_ATTEMPTS"]
    for _ in range(free + 1):
        _login(browser, user.username, "wrong-password-xyz")
    assert _login(browser, user.username, factories.PASSWORD) == 401  # waits 2 s
    clock.advance(2)
    assert _login(browser, user.username, "wrong-password-xyz") == 401  # counted: now waits 4 s
    clock.advance(2)
    assert _login(browser, user.username, factories.PASSWORD) == 401
    clock.advance(2)
    assert _login(browser, user.username, factories.PASSWORD) == 302
    # Signing in forgets this browser's failures at this account, not the account's from elsewhere.
    assert db.session.scalar(select(func.count()).select_from(LoginThrottle).where(
        LoginThrottle.account == user.username, LoginThrottle.address == "198.51.100.9")) == 0


def test_ipv6_clients_are_counted_per_64() -> None:
    key = login_throttle.client_key
    assert key("2001:db8:1:2:aaaa::1") == key("2001:db8:1:2::ffff") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:3::1") != key("2001:db8:1:2::1")
    assert key("::ffff:192.0.2.7") == "192.0.2.7"


def test_a_trusted_proxy_gives_the_clients_address(app: Flask) -> None:
    from panel import create_app

    user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    forwarded = {"X-Forwarded-For": "203.0.113.5"}
    for trusted, seen in ((0, "127.0.0.1"), (1, "203.0.113.5")):
        browser = create_app({**app.config, "TRUSTED_PROXIES": trusted}).test_client()
        token = csrf_token(browser, "/login")
        browser.post("/login", headers=forwarded, data={
            "username": user.username, "password": "wrong-password-xyz", "csrf_token": token})
        failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
                                    .order_by(AuditEvent.id.desc())).first()
        # Without a trusted proxy the header is not believed: a client could name any address.
        assert failed is not None and failed.ip == seen


def test_a_quiet_day_forgets_the_failures(app: Flask, clock: Clock) -> None:
    user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    browser = _client_at(app, "198.51.100.10")
    for _ in range(app.config["LOGIN_FREE_ATTEMPTS"] + 1):
        _login(browser, user.username, "wrong-password-xyz")
    clock.advance(login_throttle.FORGET_AFTER.total_seconds() + 1)
    _login(browser, "someone-else", "wrong-password-xyz")  # any failure clears what is past forgetting
    assert db.session.scalar(select(func.count()).select_from(LoginThrottle).where(
        LoginThrottle.account == user.username)) == 0
    _login(browser, user.username, "wrong-password-xyz")  # counted from zero: free again
    assert _login(browser, user.username, factories.PASSWORD) == 302
