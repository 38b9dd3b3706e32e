from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import audit
from panel.extensions import db
from panel.models import AuditEvent
from tests.panel import factories


def test_record_names_actor_target_and_details(app) -> None:
    opd = factories.opd()
    event = audit.record("opd.create", opd, name=opd.name)
    db.session.commit()
    stored = db.session.get(AuditEvent, event.id)
    assert (stored.action, stored.actor, stored.target_type, stored.target_id) == (
        "opd.create", "system", "Opd", str(opd.id))
    assert stored.details == {"name": opd.name}


def test_audit_events_cannot_be_changed_or_deleted(app) -> None:
    event = audit.record("test.event")
    db.session.commit()
    event.action = "forged"
    with pytest.raises(PermissionError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, event.id))
    with pytest.raises(PermissionError):
        db.session.commit()


@pytest.mark.parametrize("name", ["password", "tsig_secret", "api_token", "db_key"])
def test_secrets_never_enter_the_trail(app, name: str) -> None:
    with pytest.raises(ValueError):
        audit.record("app.update", **{name: "x"})
    assert db.session.scalars(select(AuditEvent)).all() == []
