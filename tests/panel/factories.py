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


MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
               b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def hosting_request(owner: Opd | None = None, template: str = "muara_enim", **fields: Any):  # type: ignore[no-untyped-def]
    """File a request for `owner` (a new OPD by default) with a stored request letter."""
    import io

    from panel import storage
    from panel.models import Attachment, AttachmentKind
    from panel.services import workflow

    workflow.ensure_builtin_templates()
    owner = owner or opd()
    admin = user([RoleKey.OPD_ADMIN], opd=owner)
    n = next(_seq)
    draft = workflow.RequestDraft(**{"app_name": f"Aplikasi {n}", "subdomain": f"aplikasi{n}",
                                     "stack": "static", **fields})
    filed = workflow.submit(admin, owner, draft, template, "{seq:03d}/HOST/TEST/{year}")
    sha256, size = storage.attachments().put(io.BytesIO(MINIMAL_PDF), 10**6)
    filed.attachments.append(Attachment(kind=AttachmentKind.REQUEST_LETTER, filename="surat.pdf",
                                        sha256=sha256, size=size, content_type="application/pdf",
                                        uploaded_by_id=admin.id))
    db.session.flush()
    return filed
