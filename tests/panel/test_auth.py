from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from panel.extensions import db
from panel.models import AuditEvent, RoleKey
from tests.panel import factories
from tests.panel.conftest import csrf_token


def _login(client: FlaskClient, username: str, password: str) -> int:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}).status_code


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


def test_account_locks_after_repeated_failures(app, client: FlaskClient) -> None:
    user = factories.user()
    db.session.commit()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _login(client, user.username, "wrong-password-xyz")
    # Even the right password is refused while locked.
    assert _login(client, user.username, factories.PASSWORD) == 401
    db.session.refresh(user)
    assert user.is_locked()
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "auth.lock" in actions and "auth.login_locked" in actions


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

    from panel.services.passwords import WeakPassword

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
    assert client.get("/").status_code == 200
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
