"""Builders for test data with sensible defaults; each adds to the session without committing."""
from __future__ import annotations

import itertools
from typing import Any

from panel.extensions import db
from panel.models import ApiToken, App, Opd, RoleKey, Stack, User
from panel.services.accounts import accounts
from tests.panel import pdfs

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


def api_token(owner: User, name: str = "uji", days: int = 30) -> tuple[ApiToken, str]:
    """Issue `owner` a personal API token under the app's configured limits; return it and its secret."""
    from flask import current_app

    from panel.services.accounts import api_tokens

    return api_tokens.issue(owner, name, days, max_days=current_app.config["API_TOKEN_MAX_DAYS"],
                            second_factor_roles=current_app.config["TOTP_REQUIRED_ROLES"])


def app(owner: Opd | None = None, **fields: Any) -> App:
    n = next(_seq)
    made = App(**{"name": f"app{n}", "subdomain": f"app{n}", "zone": "contoh.go.id",
                  "opd": owner or opd(), "stack": Stack.STATIC, **fields})
    db.session.add(made)
    db.session.flush()
    return made


MINIMAL_PDF = pdfs.letter()  # one blank page, with a correct cross-reference


def hosting_request(owner: Opd | None = None, template: str = "muara_enim", **fields: Any):  # type: ignore[no-untyped-def]
    """File a request for `owner` (a new OPD by default) with a stored request letter."""
    import io

    from panel import storage
    from panel.models import Attachment, AttachmentKind
    from panel.services.requests import workflow

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


def attach(request, kind: str, content: bytes = MINIMAL_PDF):  # type: ignore[no-untyped-def]
    """Store `content` and attach it to `request` as a document of `kind`."""
    import io

    from panel import storage
    from panel.models import Attachment

    sha256, size = storage.attachments().put(io.BytesIO(content), 10**6)
    document = Attachment(kind=kind, filename=f"{kind}.pdf", sha256=sha256, size=size,
                          content_type="application/pdf", uploaded_by_id=request.submitted_by_id)
    request.attachments.append(document)
    db.session.flush()
    return document


def scan_report(verdict: str = "clean", sha256: str | None = None, **fields: Any):  # type: ignore[no-untyped-def]
    """Record a finished scan of the bundle `sha256` (a new stored bundle by default)."""
    from panel.models import Artifact, ScanReport

    if sha256 is None:
        sha256 = f"{next(_seq):064x}"
        db.session.add(Artifact(sha256=sha256, size=1, original_name="situs.zip"))
    report = ScanReport(**{"artifact_sha256": sha256, "verdict": verdict, **fields})
    db.session.add(report)
    db.session.flush()
    return report


def release(app: App, number: int | None = None, status: str = "live", verdict: str = "clean",
            **fields: Any):  # type: ignore[no-untyped-def]
    """Add release `number` (the next one by default) of `app`, built from a freshly scanned bundle."""
    from panel.models import Release

    report = fields.pop("scan_report", None) or scan_report(verdict)
    number = number or len(app.releases) + 1
    made = Release(**{"app": app, "number": number, "artifact_sha256": report.artifact_sha256,
                      "scan_report_id": report.id, "status": status, **fields})
    db.session.add(made)
    db.session.flush()
    return made


ZONE_SECRET = "d2FkYWgtdGVzdC10c2lnLXNlY3JldC0wMTIzNDU2Nzg5"  # base64, for zones no test probes for real


def host(**fields: Any):  # type: ignore[no-untyped-def]
    """Register a host whose agent has not enrolled yet (no token is issued)."""
    from panel.models import Host, HostStatus

    n = next(_seq)
    made = Host(**{"name": f"node{n}", "agent_url": "https://127.0.0.1:17443", "status": HostStatus.PENDING,
                   **fields})
    db.session.add(made)
    db.session.flush()
    return made


def zone(**fields: Any):  # type: ignore[no-untyped-def]
    """Register a zone whose primary server is a closed loopback port."""
    from panel.models import Zone
    from tests.panel.agent import free_port

    n = next(_seq)
    made = Zone(**{"name": f"zona{n}.go.id", "primary_server": f"127.0.0.1:{free_port()}",
                   "tsig_key_name": "wadah-update", "tsig_secret": ZONE_SECRET, "record_ip": "127.0.0.1",
                   **fields})
    db.session.add(made)
    db.session.flush()
    return made


def pool(**fields: Any):  # type: ignore[no-untyped-def]
    from panel.models import IpPool

    n = next(_seq)
    made = IpPool(**{"name": f"pool{n}", "network": "127.42.0.0/24", "first": "127.42.0.10",
                     "last": "127.42.0.20", **fields})
    db.session.add(made)
    db.session.flush()
    return made


def app_account(app: App, **fields: Any) -> User:
    """Create the Web Panel login of `app`: a user with the app_account role, tied to that app."""
    from panel.models import AppAccount

    login = user([RoleKey.APP_ACCOUNT], opd=app.opd, **fields)
    db.session.add(AppAccount(user=login, app=app))
    db.session.flush()
    return login
