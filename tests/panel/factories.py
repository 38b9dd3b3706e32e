"""Builders for test data with sensible defaults; each adds to the session without committing."""
from __future__ import annotations

import itertools
from typing import Any

from panel.extensions import db
from panel.models import App, Opd, RoleKey, Stack, User
from panel.services import accounts

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


def opd(**fields: Any) -> Opd:
    n = next(_seq)
    made = Opd(**{"code": f"OPD{n}", "name": f"Dinas Contoh {n}", **fields})
    db.session.add(made)
    db.session.flush()
    return made


def user(roles: list[RoleKey] | None = None, password: str = PASSWORD, **fields: Any) -> User:
    roles = roles or [RoleKey.OPD_ADMIN]
    if "opd" not in fields and RoleKey.OPD_ADMIN in roles:
        fields["opd"] = opd()
    username = fields.pop("username", f"user{next(_seq)}")
    return accounts.create_user(username, password, roles, **fields)


def app(owner: Opd | None = None, **fields: Any) -> App:
    n = next(_seq)
    made = App(**{"name": f"app{n}", "subdomain": f"app{n}", "zone": "contoh.go.id",
                  "opd": owner or opd(), "stack": Stack.STATIC, **fields})
    db.session.add(made)
    db.session.flush()
    return made
