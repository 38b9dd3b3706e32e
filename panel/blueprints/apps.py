"""The application inventory (Inventarisasi Aplikasi): every hosted app the user may see."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_login import current_user

from panel.models import AppStatus, Stack
from panel.permissions import login_required
from panel.services import inventory

bp = Blueprint("apps", __name__, url_prefix="/apps")

FILTER_ARGS = ("q", "opd", "stack", "status", "host")


def _choice(name: str, allowed: type[Stack] | type[AppStatus]) -> str | None:
    value = request.args.get(name, "")
    return value if value in set(allowed) else None


@bp.get("")
@login_required
def index() -> Any:
    filters = inventory.AppFilters(
        opd_id=request.args.get("opd", type=int), stack=_choice("stack", Stack),
        status=_choice("status", AppStatus), host_id=request.args.get("host", type=int),
        text=request.args.get("q", "").strip()[:100])
    page = inventory.inventory_page(current_user, filters, request.args.get("page", 1, type=int))
    # The pager keeps the filters the user set.
    kept = {name: request.args[name] for name in FILTER_ARGS if request.args.get(name)}
    return render_template("apps/index.html", page=page, filters=filters, kept=kept,
                           opds=inventory.opd_choices(current_user),
                           hosts=inventory.host_choices(current_user), stacks=Stack, statuses=AppStatus)
