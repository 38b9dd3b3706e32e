"""X-Forwarded-For and -Proto are believed only from a peer in TRUSTED_PROXY_NETWORKS."""
from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import AuditEvent, LoginThrottle, RoleKey
from panel.security import TrustedProxies
from tests.panel import factories
from tests.panel.conftest import csrf_token

FORGED = "203.0.113.5"


@pytest.mark.parametrize(("peer", "networks", "seen"), [
    ("127.0.0.1", None, FORGED),  # nginx on the same machine (the default networks)
    ("198.51.100.20", None, "198.51.100.20"),  # a client that reached the panel's port itself
    ("10.0.0.2", ["10.0.0.0/30"], FORGED),  # a front on another machine, when configured
    ("10.0.0.9", ["10.0.0.0/30"], "10.0.0.9"),
    ("127.0.0.1", ["10.0.0.0/30"], "127.0.0.1"),  # loopback is no longer trusted once replaced
])
def test_only_a_trusted_proxy_names_the_client(app: Flask, peer: str, networks: list[str] | None,
                                               seen: str) -> None:
    from panel import create_app

    user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    settings = {**app.config} if networks is None else {**app.config, "TRUSTED_PROXY_NETWORKS": networks}
    browser = create_app(settings).test_client()
    browser.environ_base["REMOTE_ADDR"] = peer
    token = csrf_token(browser, "/login")
    browser.post("/login", headers={"X-Forwarded-For": FORGED}, data={
        "username": user.username, "password": "wrong-password-xyz", "csrf_token": token})
    failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
                                .order_by(AuditEvent.id.desc())).first()
    assert failed is not None and failed.ip == seen
    addresses = set(db.session.scalars(select(LoginThrottle.address).where(LoginThrottle.address != "")))
    assert addresses == {seen}


def test_a_peer_that_is_no_address_is_not_a_proxy() -> None:
    proxies = TrustedProxies(lambda environ, start_response: [], 1, ["127.0.0.1/32", "::1/128"])
    assert proxies.trusts("127.0.0.1") and proxies.trusts("::1")
    assert not any(proxies.trusts(peer) for peer in ("", "/run/wadah.sock", "127.0.0.2"))
    # As an environment variable names them: a plain string of networks.
    from_environment = TrustedProxies(lambda environ, start_response: [], 1, "10.0.0.2/32, 10.0.1.0/24")
    assert from_environment.trusts("10.0.1.7") and not from_environment.trusts("10.0.0.3")
