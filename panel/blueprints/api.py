"""The JSON API under /api/v1: one error shape, never HTML."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from agents.pki import EnrolmentRefused
from panel.extensions import csrf, db, limiter
from panel.permissions import login_required, public
from panel.services import hosts

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # the API authenticates each request itself; it sets no cookie a browser replays


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _error(error: HTTPException) -> Any:
        # Unmatched /api/ URLs have no blueprint, so the shape is chosen by path, not by blueprint.
        if not request.path.startswith(bp.url_prefix or "/api/"):
            return error
        code = (error.name or "error").lower().replace(" ", "_")
        body = {"error": {"status": error.code, "code": code, "message": error.description}}
        return jsonify(body), error.code


@bp.get("/health")
@public
def health() -> Any:
    return {"status": "ok"}


@bp.post("/agents/enroll")
@public
@limiter.limit("10 per minute")
def enroll_agent() -> Any:
    # The one-time token is the credential: this is how a new host's agent gets its certificate.
    pki = hosts.PanelPKI(current_app.instance_path)
    try:
        enrolled = pki.enrolments.redeem_request(request.get_json(silent=True))
        hosts.record_enrolment(enrolled)
    except (EnrolmentRefused, hosts.HostRefused) as refused:
        db.session.rollback()
        code = getattr(refused, "code", "host_unknown")
        status = 400 if code == "malformed_request" else 403
        return {"error": {"status": status, "code": code, "message": str(refused)}}, status
    db.session.commit()
    return enrolled.bundle.to_dict()


@bp.get("/me")
@login_required
def me() -> Any:
    return {
        "username": current_user.username,
        "full_name": current_user.full_name,
        "roles": sorted(current_user.role_keys),
        "opd": current_user.opd.code if current_user.opd else None,
    }
