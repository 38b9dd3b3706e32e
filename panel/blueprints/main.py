"""The home page each role lands on."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import current_user

from panel.permissions import login_required
from panel.services import inventory

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def dashboard() -> Any:
    return render_template("main/dashboard.html", summary=inventory.summary_for(current_user))
