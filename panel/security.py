"""Response headers and session rules that every page gets."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

# No inline script or style and no third-party origin: assets are vendored and served by the panel.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# A request here is authenticated by its API token alone, never by a cookie a browser replays.
API_PREFIX = "/api/"
# Background polls: they must not keep an unattended tab's session alive past the idle timeout.
PASSIVE_ENDPOINTS = frozenset({"main.dashboard_steps"})


# A browser keeps a __Host- cookie only if it is Secure, has Path=/ and no Domain, and never lets a
# sibling subdomain (a hosted app on the Pemda's domain) set or shadow it.
HOST_PREFIX = "__Host-"


def cookie_name(name: str, secure: bool) -> str:
    """Return the name a cookie of the panel's goes by: with the __Host- prefix when it is Secure."""
    return f"{HOST_PREFIX}{name}" if secure and not name.startswith(HOST_PREFIX) else name


class PanelSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions, except that the API gets none and passive polls renew none.

    Under HTTPS the cookie is a __Host- cookie. Who the session belongs to is checked against the
    database on every request (`User.session_epoch`), so an ended session stays ended when replayed.
    """

    def get_cookie_name(self, app: Flask) -> str:
        return cookie_name(app.config["SESSION_COOKIE_NAME"], app.config["SESSION_COOKIE_SECURE"])

    def get_cookie_domain(self, app: Flask) -> str | None:
        return None if app.config["SESSION_COOKIE_SECURE"] else super().get_cookie_domain(app)

    def get_cookie_path(self, app: Flask) -> str:
        return "/" if app.config["SESSION_COOKIE_SECURE"] else super().get_cookie_path(app)

    def open_session(self, app: Flask, incoming: Any) -> Any:
        if incoming.path.startswith(API_PREFIX):
            return self.session_class()  # empty, and never saved
        return super().open_session(app, incoming)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if request.path.startswith(API_PREFIX) or request.endpoint in PASSIVE_ENDPOINTS:
            return
        super().save_session(app, session, response)


class TrustedProxies:
    """Believe X-Forwarded-For/-Proto only from a peer inside `networks`; anyone else's are ignored.

    Without this, a client reaching the panel directly (not through nginx) could name any address
    and so dodge the sign-in throttle, trip it for someone else, or forge the audit trail.
    """

    def __init__(self, wsgi_app: Any, hops: int, networks: Iterable[str] | str) -> None:
        self.direct = wsgi_app
        self.proxied = ProxyFix(wsgi_app, x_for=hops, x_proto=hops)
        if isinstance(networks, str):  # WADAH_TRUSTED_PROXY_NETWORKS="10.0.0.2/32 10.0.0.3/32"
            networks = networks.replace(",", " ").split()
        self.networks = tuple(ipaddress.ip_network(network) for network in networks)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR") or ""
        return (self.proxied if self.trusts(peer) else self.direct)(environ, start_response)

    def trusts(self, peer: str) -> bool:
        """Return whether the connecting address `peer` is one of the trusted proxies."""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a unix socket peer, or none
            return False
        return any(address in network for network in self.networks)


def init_app(app: Flask) -> None:
    app.session_interface = PanelSessions()
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops:  # the client's address (audit, sign-in throttle) and scheme come from the proxy's headers
        app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
            app.wsgi_app, hops, app.config["TRUSTED_PROXY_NETWORKS"])

    @app.before_request
    def _idle_timeout() -> None:
        # A permanent session expires PERMANENT_SESSION_LIFETIME after the last request.
        session.permanent = True

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
