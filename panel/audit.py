"""The one helper every state change goes through to leave its audit event."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from panel.extensions import db
from panel.models import AuditEvent, User

# Secrets never enter the audit trail: a detail whose name looks like one is a programming error.
_SECRET_NAME = re.compile(r"pass|secret|token|key|otp|credential", re.IGNORECASE)
# Who acts when no user does (the command line): "system" unless a caller says more.
_unattended_actor: ContextVar[str] = ContextVar("unattended_actor", default="system")


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Record the events added inside this block without a user as done by `name` (e.g. "cli:root")."""
    reset = _unattended_actor.set(name[:64])
    try:
        yield
    finally:
        _unattended_actor.reset(reset)


def record(action: str, target: Any = None, *, actor: User | None = None, **details: Any) -> AuditEvent:
    """Add an audit event for `action` on `target` to the session; it commits with the change."""
    secret_names = [name for name in details if _SECRET_NAME.search(name)]
    if secret_names:
        raise ValueError(f"audit details must not carry secrets: {secret_names}")
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()  # type: ignore[attr-defined]
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else _unattended_actor.get(),
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
