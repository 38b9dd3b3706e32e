"""The JSON API under /api/v1: one error shape, never HTML."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from panel.extensions import csrf
from panel.permissions import login_required, public

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # the API authenticates each request itself; it sets no cookie a browser replays


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _error(error: HTTPException) -> Any:
        # Unmatched /api/ URLs have no blueprint, so the shape is chosen by path, not by blueprint.
        if not request.path.startswith(bp.url_prefix or "/api/"):
            return error
        body = {"error": {"status": error.code, "name": error.name, "message": error.description}}
        return jsonify(body), error.code


@bp.get("/health")
@public
def health() -> Any:
    return {"status": "ok"}


@bp.get("/me")
@login_required
def me() -> Any:
    return {
        "username": current_user.username,
        "full_name": current_user.full_name,
        "roles": sorted(current_user.role_keys),
        "opd": current_user.opd.code if current_user.opd else None,
    }
