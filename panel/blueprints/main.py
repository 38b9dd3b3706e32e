"""The home page each role lands on."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2.filters import do_filesizeformat as filesizeformat
from werkzeug.exceptions import RequestEntityTooLarge

from panel.i18n import gettext as _
from panel.models.base import utcnow
from panel.permissions import login_required
from panel.services.apps import inventory
from panel.services.requests import worklist

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def dashboard() -> Any:
    if current_user.app_account is not None:  # a Web Panel login manages exactly one app: go straight there
        return redirect(url_for("webpanel.overview", app_id=current_user.app_account.app_id))
    return render_template("main/dashboard.html", summary=inventory.summary_for(current_user),
                           worklist=worklist.worklist_for(current_user, utcnow()))


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge) -> Any:
    """A body over MAX_CONTENT_LENGTH, refused while it streams in: say so in the reader's language."""
    if request.blueprint == "api":
        return error  # the API answers in JSON through its own handlers
    limit = filesizeformat(current_app.config["MAX_CONTENT_LENGTH"], binary=True)
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else None
    return render_template("error.html", title=_("Berkas terlalu besar"), back=back, message=_(
        "Kiriman melebihi batas %(limit)s dan tidak disimpan. Perkecil berkasnya lalu kirim lagi.",
        limit=limit)), 413


@bp.get("/dashboard/steps")
@login_required
def dashboard_steps() -> Any:
    # The dashboard's script swaps this fragment in every 30 seconds; it is the same partial.
    return render_template("main/_steps.html", worklist=worklist.worklist_for(current_user, utcnow()))
