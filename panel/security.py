"""Response headers and session rules that every page gets."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, request, session
from flask.sessions import SecureCookieSessionInterface

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


class PanelSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions, except that the API gets none and passive polls renew none."""

    def open_session(self, app: Flask, incoming: Any) -> Any:
        if incoming.path.startswith(API_PREFIX):
            return self.session_class()  # empty, and never saved
        return super().open_session(app, incoming)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if request.path.startswith(API_PREFIX) or request.endpoint in PASSIVE_ENDPOINTS:
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.session_interface = PanelSessions()

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
