"""Access control as a matrix: every route × every role, against a table written by hand.

A new route fails `test_every_route_is_in_the_matrix` until its row is added here, so nobody
ships a route whose access was never decided.
"""
from __future__ import annotations

import pytest
from flask import Flask, url_for

from panel.models import RoleKey
from panel.permissions import access_of
from tests.panel.conftest import csrf_token

ANONYMOUS = "anonymous"
EVERYONE = frozenset({ANONYMOUS, *RoleKey})
SIGNED_IN = frozenset(RoleKey)

# endpoint → (method, who may use it)
MATRIX: dict[str, tuple[str, frozenset[str]]] = {
    "auth.login": ("GET", EVERYONE),
    "auth.logout": ("POST", SIGNED_IN),
    "auth.password": ("GET", SIGNED_IN),
    "main.dashboard": ("GET", SIGNED_IN),
    "api.health": ("GET", EVERYONE),
    "api.me": ("GET", SIGNED_IN),
}
IGNORED = {"static"}


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - IGNORED
    assert endpoints == set(MATRIX)


def test_every_route_declares_its_access(app: Flask) -> None:
    with app.test_request_context():
        undeclared = [e for e in MATRIX if access_of(e) is None]
    assert undeclared == []


def test_undeclared_route_is_refused(app: Flask) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    assert app.test_client().get("/forgotten").status_code == 403


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
@pytest.mark.parametrize("who", sorted(EVERYONE))
def test_route_answers_each_role_as_declared(app, client, login_as, endpoint: str, who: str) -> None:
    method, allowed = MATRIX[endpoint]
    if who != ANONYMOUS:
        login_as(RoleKey(who))
    with app.test_request_context():
        url = url_for(endpoint)
    data = {}
    if method == "POST":
        data["csrf_token"] = csrf_token(client, "/login" if who == ANONYMOUS else "/")
    response = client.open(url, method=method, data=data)
    sent_to_login = response.status_code == 302 and "next=" in (response.location or "")
    refused = response.status_code in (401, 403) or sent_to_login
    if who in allowed:
        assert not refused, f"{who} refused on {endpoint}"
    elif who == ANONYMOUS:
        assert response.status_code == 401 or sent_to_login, f"anonymous reached {endpoint}"
    else:
        assert response.status_code == 403, f"{who} reached {endpoint}"
