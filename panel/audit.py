"""The one helper every state change goes through to leave its audit event."""
from __future__ import annotations

import re
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from panel.extensions import db
from panel.models import AuditEvent, User

# Secrets never enter the audit trail: a detail whose name looks like one is a programming error.
_SECRET_NAME = re.compile(r"pass|secret|token|key|otp|credential", re.IGNORECASE)


def record(action: str, target: Any = None, *, actor: User | None = None, **details: Any) -> AuditEvent:
    """Add an audit event for `action` on `target` to the session; it commits with the change."""
    secret_names = [name for name in details if _SECRET_NAME.search(name)]
    if secret_names:
        raise ValueError(f"audit details must not carry secrets: {secret_names}")
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()  # type: ignore[attr-defined]
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
        action=action,
        target_type=type(target).__name__ if target is not None else None,
        target_id=_identity(target),
        ip=request.remote_addr if has_request_context() else None,
        details=details,
    )
    db.session.add(event)
    return event


def _identity(target: Any) -> str | None:
    if target is None:
        return None
    for attribute in ("id", "sha256", "key"):
        value = getattr(target, attribute, None)
        if value is not None:
            return str(value)
    return str(target)
