"""The audit log (Log audit): search the trail, page through it, export what a search found."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context

from panel import audit
from panel.extensions import db
from panel.formatting import pemda_zone
from panel.models import RoleKey
from panel.permissions import require_role
from panel.services.reports import audit_log

bp = Blueprint("audit", __name__, url_prefix="/audit")

# Officials and auditors read the trail; those who act on requests day to day do not.
READERS = (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.AUDITOR, RoleKey.SUPERADMIN)


@bp.get("")
@require_role(*READERS)
def index() -> Any:
    try:
        search = audit_log.Filter.parse(request.args)
        cursor = audit_log.Cursor.parse(request.args)
    except audit_log.InvalidFilter as invalid:
        return _render(errors=invalid.errors), 400
    return _render(search=search, found=audit_log.page(search, pemda_zone(), cursor))


@bp.get("/export.csv")
@require_role(*READERS)
def export() -> Any:
    try:
        search = audit_log.Filter.parse(request.args)
    except audit_log.InvalidFilter as invalid:
        return _render(errors=invalid.errors), 400
    audit.record("audit.export", filter=search.to_args())
    db.session.commit()
    filename = f"log-audit-{datetime.now(pemda_zone()):%Y%m%d-%H%M}.csv"
    return Response(stream_with_context(audit_log.csv_chunks(search, pemda_zone())), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


def _render(search: audit_log.Filter | None = None, found: audit_log.Page | None = None,
            errors: list[str] | None = None) -> str:
    known = audit_log.actions()
    return render_template("audit/index.html", search=search, found=found, errors=errors or [],
                           actions=known, action_prefixes=audit_log.action_prefixes(known),
                           key_values=audit_log.key_values)
