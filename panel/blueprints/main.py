"""The home page each role lands on."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from panel.models.base import utcnow
from panel.permissions import login_required
from panel.services import inventory, worklist

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def dashboard() -> Any:
    if current_user.app_account is not None:  # a Web Panel login manages exactly one app: go straight there
        return redirect(url_for("webpanel.overview", app_id=current_user.app_account.app_id))
    return render_template("main/dashboard.html", summary=inventory.summary_for(current_user),
                           worklist=worklist.worklist_for(current_user, utcnow()))


@bp.get("/dashboard/steps")
@login_required
def dashboard_steps() -> Any:
    # The dashboard's script swaps this fragment in every 30 seconds; it is the same partial.
    return render_template("main/_steps.html", worklist=worklist.worklist_for(current_user, utcnow()))
