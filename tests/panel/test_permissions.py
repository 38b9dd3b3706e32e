"""Access control as a matrix: every route × every role, against a table written by hand.

A new route fails `test_every_route_is_in_the_matrix` until its row is added here, so nobody
ships a route whose access was never decided.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, url_for

from panel.extensions import db
from panel.models import RoleKey
from panel.permissions import DATA_CENTER_ROLES, access_of
from tests.panel import factories
from tests.panel.conftest import csrf_token

ANONYMOUS = "anonymous"
EVERYONE = frozenset({ANONYMOUS, *RoleKey})
SIGNED_IN = frozenset(RoleKey)
DATA_CENTER = frozenset(DATA_CENTER_ROLES)
REQUEST_READERS = DATA_CENTER | {RoleKey.OPD_ADMIN}
TECHNICIAN = frozenset({RoleKey.TECHNICIAN})


def _no_args() -> dict[str, Any]:
    return {}


def _foreign_request() -> dict[str, Any]:
    # Filed by another agency: an OPD admin must not even learn that it exists (404).
    filed = factories.hosting_request()
    return {"request_id": filed.id}


def _foreign_attachment() -> dict[str, Any]:
    filed = factories.hosting_request()
    return {"request_id": filed.id, "attachment_id": filed.attachments[0].id}


# endpoint → (method, who may use it, what builds the URL's arguments)
MATRIX: dict[str, tuple[str, frozenset[str], Callable[[], dict[str, Any]]]] = {
    "auth.login": ("GET", EVERYONE, _no_args),
    "auth.logout": ("POST", SIGNED_IN, _no_args),
    "auth.password": ("GET", SIGNED_IN, _no_args),
    "main.dashboard": ("GET", SIGNED_IN, _no_args),
    "requests.index": ("GET", REQUEST_READERS, _no_args),
    "requests.new": ("GET", frozenset({RoleKey.OPD_ADMIN}), _no_args),
    "requests.show": ("GET", DATA_CENTER, _foreign_request),
    "requests.act": ("POST", DATA_CENTER, _foreign_request),
    "requests.dispose": ("POST", frozenset({RoleKey.HEAD, RoleKey.COORDINATOR}), _foreign_request),
    "requests.comment": ("POST", DATA_CENTER, _foreign_request),
    "requests.attachment": ("GET", DATA_CENTER, _foreign_attachment),
    "requests.scan": ("POST", TECHNICIAN, _foreign_request),
    "requests.accept_review": ("POST", TECHNICIAN, _foreign_request),
    "requests.replace_bundle": ("POST", TECHNICIAN, _foreign_request),
    "requests.allocate": ("POST", TECHNICIAN, _foreign_request),
    "requests.deploy": ("POST", TECHNICIAN, _foreign_request),
    "requests.issue_login": ("POST", TECHNICIAN, _foreign_request),
    "requests.response_letter": ("POST", frozenset({RoleKey.COORDINATOR}), _foreign_request),
    "api.health": ("GET", EVERYONE, _no_args),
    "api.me": ("GET", SIGNED_IN, _no_args),
    "api.enroll_agent": ("POST", EVERYONE, _no_args),  # the one-time token is the credential
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
    method, allowed, arguments = MATRIX[endpoint]
    if who != ANONYMOUS:
        login_as(RoleKey(who))
    values = arguments()
    db.session.commit()
    with app.test_request_context():
        url = url_for(endpoint, **values)
    data = {}
    if method == "POST":
        data["csrf_token"] = csrf_token(client, "/login" if who == ANONYMOUS else "/account/password")
    response = client.open(url, method=method, data=data)
    sent_to_login = response.status_code == 302 and "next=" in (response.location or "")
    refused = response.status_code in (401, 403, 404) or sent_to_login
    if who in allowed:
        assert not refused, f"{who} refused on {endpoint}: {response.status_code}"
    elif who == ANONYMOUS:
        assert response.status_code == 401 or sent_to_login, f"anonymous reached {endpoint}"
    else:
        assert response.status_code in (403, 404), f"{who} reached {endpoint}"
