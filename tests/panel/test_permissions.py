"""Access control as a matrix: every route × every role, against a table written by hand.

A new route fails `test_every_route_is_in_the_matrix` until its row is added here, so nobody
ships a route whose access was never decided.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, url_for

from panel.extensions import db
from panel.models import Job, RoleKey
from panel.permissions import DATA_CENTER_ROLES, access_of
from panel.services import api_tokens
from tests.panel import factories
from tests.panel.conftest import csrf_token

ANONYMOUS = "anonymous"
EVERYONE = frozenset({ANONYMOUS, *RoleKey})
SIGNED_IN = frozenset(RoleKey)
DATA_CENTER = frozenset(DATA_CENTER_ROLES)
REQUEST_READERS = DATA_CENTER | {RoleKey.OPD_ADMIN}
TECHNICIAN = frozenset({RoleKey.TECHNICIAN})
SUPERADMIN = frozenset({RoleKey.SUPERADMIN})
INFRASTRUCTURE_READERS = frozenset({RoleKey.TECHNICIAN, RoleKey.SUPERADMIN})
AUDIT_READERS = frozenset({RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.AUDITOR, RoleKey.SUPERADMIN})
# Of an app other than their own: only the data center's managing roles (see permissions.APP_MANAGERS).
APP_MANAGERS = frozenset({RoleKey.TECHNICIAN, RoleKey.SUPERADMIN})


def _no_args() -> dict[str, Any]:
    return {}


def _foreign_request() -> dict[str, Any]:
    # Filed by another agency: an OPD admin must not even learn that it exists (404).
    filed = factories.hosting_request()
    return {"request_id": filed.id}


def _foreign_attachment() -> dict[str, Any]:
    filed = factories.hosting_request()
    return {"request_id": filed.id, "attachment_id": filed.attachments[0].id}


def _foreign_job() -> dict[str, Any]:
    filed = factories.hosting_request()
    job = Job(kind="scan", target_type="HostingRequest", target_id=str(filed.id))
    db.session.add(job)
    db.session.flush()
    return {"job_id": job.id}


def _foreign_app() -> dict[str, Any]:
    return {"app_id": factories.app().id}


def _foreign_app_action() -> dict[str, Any]:
    # The app has no host yet: a permitted action is refused at once and touches nothing.
    return {"app_id": factories.app().id, "action": "status"}


def _foreign_upload() -> dict[str, Any]:
    import io

    from panel import storage
    from panel.models import AppUpload, UploadStatus

    report = factories.scan_report("review")
    report.html_sha256, _ = storage.attachments().put(io.BytesIO(b"<p>laporan</p>"), 10**6)
    upload = AppUpload(app_id=factories.app().id, artifact_sha256=report.artifact_sha256,
                       status=UploadStatus.REVIEW, scan_report_id=report.id)
    db.session.add(upload)
    db.session.flush()
    return {"app_id": upload.app_id, "upload_id": upload.id}


def _foreign_build_scan() -> dict[str, Any]:
    import io

    from panel import storage
    from panel.models import ScanKind

    bundle = factories.scan_report("clean")
    built = factories.scan_report("infected", sha256=bundle.artifact_sha256)
    built.kind = ScanKind.BUILD
    built.html_sha256, _ = storage.attachments().put(io.BytesIO(b"<p>laporan build</p>"), 10**6)
    release = factories.release(factories.app(), scan_report=bundle)
    release.build_scan_report_id = built.id
    db.session.flush()
    return {"app_id": release.app_id, "release_id": release.id}


def _foreign_review() -> dict[str, Any]:
    return {"upload_id": _foreign_upload()["upload_id"]}


def _foreign_env_var() -> dict[str, Any]:
    from panel.models import AppEnvVar

    var = AppEnvVar(app_id=factories.app().id, name="APP_MODE", value="produksi")
    db.session.add(var)
    db.session.flush()
    return {"app_id": var.app_id, "name": var.name}


def _foreign_password_reset() -> dict[str, Any]:
    # Someone else asked for it: whoever else opens it is told so, and sees nothing.
    from panel import crypto

    target = factories.app()
    job = Job(kind="app_db_password", target_type="App", target_id=str(target.id), status="succeeded",
              result={"sealed": crypto.encrypt("bukan-untuk-anda")})
    db.session.add(job)
    db.session.flush()
    return {"app_id": target.id, "job_id": job.id}


def _foreign_app_with_letter() -> dict[str, Any]:
    from panel.models import Attachment, AttachmentKind

    filed = factories.hosting_request()
    letter = filed.attachments[0]
    db.session.add(Attachment(request_id=filed.id, kind=AttachmentKind.HOSTING_REPORT, filename="laporan.pdf",
                              sha256=letter.sha256, size=letter.size, content_type="application/pdf"))
    return {"app_id": factories.app(owner=filed.opd, request_id=filed.id).id}


def _someone_elses_token() -> dict[str, Any]:
    # Nobody may revoke another user's token: it answers 404 and changes nothing.
    token, _secret = api_tokens.issue(factories.user([RoleKey.TECHNICIAN]), "ci", None)
    return {"token_id": token.id}


def _pending_host() -> dict[str, Any]:
    return {"host_id": factories.host().id}


def _zone() -> dict[str, Any]:
    # Its server is a closed loopback port: a permitted "Uji" fails at once and touches nothing.
    return {"zone_id": factories.zone().id}


def _sop_template() -> dict[str, Any]:
    return {"key": "muara_enim"}


def _report_month() -> dict[str, Any]:
    from panel.models.base import utcnow
    from panel.services.reports import Month

    return {"period": Month.current(utcnow()).key}


def _csv() -> dict[str, Any]:
    return {"fmt": "csv"}


# endpoint → (method, who may use it, what builds the URL's arguments)
MATRIX: dict[str, tuple[str, frozenset[str], Callable[[], dict[str, Any]]]] = {
    "auth.login": ("GET", EVERYONE, _no_args),
    # Public, as the second half of a sign-in: without a pending marker it only redirects to /login.
    "auth.login_totp": ("GET", EVERYONE, _no_args),
    "auth.logout": ("POST", SIGNED_IN, _no_args),
    "auth.language": ("POST", EVERYONE, _no_args),  # the sign-in page offers the language choice too
    "auth.password": ("GET", SIGNED_IN, _no_args),
    "auth.totp_settings": ("GET", SIGNED_IN, _no_args),
    "auth.disable_totp": ("POST", SIGNED_IN, _no_args),
    "main.dashboard": ("GET", SIGNED_IN, _no_args),
    "main.dashboard_steps": ("GET", SIGNED_IN, _no_args),
    "audit.index": ("GET", AUDIT_READERS, _no_args),
    "audit.export": ("GET", AUDIT_READERS, _no_args),
    "reports.index": ("GET", DATA_CENTER, _no_args),
    "reports.monthly_pdf": ("GET", DATA_CENTER, _report_month),
    "reports.export_apps": ("GET", DATA_CENTER, _csv),
    "reports.export_requests": ("GET", DATA_CENTER, _csv),
    "requests.index": ("GET", REQUEST_READERS, _no_args),
    "requests.new": ("GET", frozenset({RoleKey.OPD_ADMIN}), _no_args),
    "requests.show": ("GET", DATA_CENTER, _foreign_request),
    "requests.act": ("POST", DATA_CENTER, _foreign_request),
    "requests.dispose": ("POST", frozenset({RoleKey.HEAD, RoleKey.COORDINATOR}), _foreign_request),
    "requests.comment": ("POST", DATA_CENTER, _foreign_request),
    "requests.attachment": ("GET", DATA_CENTER, _foreign_attachment),
    "requests.scan": ("POST", TECHNICIAN, _foreign_request),
    "requests.accept_review": ("POST", TECHNICIAN, _foreign_request),
    "requests.replace_bundle": ("POST", TECHNICIAN, _foreign_request),
    "requests.allocate": ("POST", TECHNICIAN, _foreign_request),
    "requests.deploy": ("POST", TECHNICIAN, _foreign_request),
    "requests.issue_login": ("POST", TECHNICIAN, _foreign_request),
    "requests.response_letter": ("POST", frozenset({RoleKey.COORDINATOR}), _foreign_request),
    "admin.hosts_index": ("GET", INFRASTRUCTURE_READERS, _no_args),
    "admin.add_host": ("POST", SUPERADMIN, _no_args),
    "admin.refresh_host": ("POST", SUPERADMIN, _pending_host),
    "admin.reissue_token": ("POST", SUPERADMIN, _pending_host),
    "admin.zones_index": ("GET", INFRASTRUCTURE_READERS, _no_args),
    "admin.add_zone": ("POST", SUPERADMIN, _no_args),
    "admin.zone": ("GET", INFRASTRUCTURE_READERS, _zone),
    "admin.probe_zone": ("POST", SUPERADMIN, _zone),
    "admin.pools_index": ("GET", INFRASTRUCTURE_READERS, _no_args),
    "admin.add_pool": ("POST", SUPERADMIN, _no_args),
    "admin.sop_templates": ("GET", SUPERADMIN, _no_args),
    "admin.sop_template": ("GET", SUPERADMIN, _sop_template),
    "admin.revise_sop": ("POST", SUPERADMIN, _sop_template),
    "apps.index": ("GET", SIGNED_IN, _no_args),
    "apps.reviews": ("GET", TECHNICIAN, _no_args),
    "apps.accept_upload": ("POST", TECHNICIAN, _foreign_review),
    # The Web Panel: anyone who may see the app reads it (an app account or OPD admin of another app
    # or agency gets 404); the app account, its OPD admin, technicians and the superadmin act on it.
    "webpanel.overview": ("GET", DATA_CENTER, _foreign_app),
    "webpanel.control": ("POST", APP_MANAGERS, _foreign_app_action),
    "webpanel.logs": ("GET", DATA_CENTER, _foreign_app),
    "webpanel.fetch_logs": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.stop_logs": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.metrics": ("GET", DATA_CENTER, _foreign_app),
    # The limit takes room on the data center's disks: only the data center sets it, even on one's own app.
    "webpanel.set_storage": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.uploads": ("GET", DATA_CENTER, _foreign_app),
    "webpanel.upload": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.scan_report": ("GET", DATA_CENTER, _foreign_upload),
    "webpanel.releases": ("GET", DATA_CENTER, _foreign_app),
    "webpanel.build_report": ("GET", DATA_CENTER, _foreign_build_scan),
    "webpanel.rollback": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.env": ("GET", DATA_CENTER, _foreign_app),
    "webpanel.set_env": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.delete_env": ("POST", APP_MANAGERS, _foreign_env_var),
    "webpanel.reveal_env": ("POST", APP_MANAGERS, _foreign_env_var),
    "webpanel.apply_env": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.database": ("GET", DATA_CENTER, _foreign_app),
    "webpanel.fetch_database": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.reset_database_password": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.show_database_password": ("POST", APP_MANAGERS, _foreign_password_reset),
    "webpanel.domain": ("GET", DATA_CENTER, _foreign_app),
    "webpanel.check_domain": ("POST", APP_MANAGERS, _foreign_app),
    "webpanel.report_letter": ("GET", DATA_CENTER, _foreign_app_with_letter),
    "api.health": ("GET", EVERYONE, _no_args),
    "api.me": ("GET", SIGNED_IN, _no_args),
    "api.openapi": ("GET", EVERYONE, _no_args),
    "api.list_requests": ("GET", REQUEST_READERS, _no_args),
    "api.file_request": ("POST", frozenset({RoleKey.OPD_ADMIN}), _no_args),
    "api.get_request": ("GET", DATA_CENTER, _foreign_request),
    "api.act": ("POST", DATA_CENTER, _foreign_request),
    "api.dispose": ("POST", frozenset({RoleKey.HEAD, RoleKey.COORDINATOR}), _foreign_request),
    "api.comment": ("POST", DATA_CENTER, _foreign_request),
    "api.attachment": ("GET", DATA_CENTER, _foreign_attachment),
    "api.scan": ("POST", TECHNICIAN, _foreign_request),
    "api.accept_review": ("POST", TECHNICIAN, _foreign_request),
    "api.replace_bundle": ("POST", TECHNICIAN, _foreign_request),
    "api.allocate": ("POST", TECHNICIAN, _foreign_request),
    "api.deploy": ("POST", TECHNICIAN, _foreign_request),
    "api.issue_login": ("POST", TECHNICIAN, _foreign_request),
    "api.response_letter": ("POST", frozenset({RoleKey.COORDINATOR}), _foreign_request),
    "api.get_job": ("GET", DATA_CENTER, _foreign_job),
    "api.list_apps": ("GET", SIGNED_IN, _no_args),
    "api.get_app": ("GET", DATA_CENTER, _foreign_app),
    "auth.tokens": ("GET", SIGNED_IN, _no_args),
    "auth.revoke_token": ("POST", frozenset(), _someone_elses_token),
    "api.enroll_agent": ("POST", EVERYONE, _no_args),  # the one-time token is the credential
}
IGNORED = {"static"}


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - IGNORED
    assert endpoints == set(MATRIX)


def test_every_route_declares_its_access(app: Flask) -> None:
    with app.test_request_context():
        undeclared = [e for e in MATRIX if access_of(e) is None]
    assert undeclared == []


def test_undeclared_route_is_refused(app: Flask) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    assert app.test_client().get("/forgotten").status_code == 403


def test_the_vendored_assets_are_public(app: Flask) -> None:
    for asset in ("wadah.css", "dashboard.js"):
        assert app.test_client().get(f"/static/{asset}").status_code == 200


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
@pytest.mark.parametrize("who", sorted(EVERYONE))
def test_route_answers_each_role_as_declared(app, client, login_as, endpoint: str, who: str) -> None:
    method, allowed, arguments = MATRIX[endpoint]
    headers = {}
    if who != ANONYMOUS:
        user = login_as(RoleKey(who))
        if endpoint.startswith("api."):  # the API reads no session: it is called with a token
            headers["Authorization"] = "Bearer " + api_tokens.issue(user, "matrix", None)[1]
    values = arguments()
    db.session.commit()
    with app.test_request_context():
        url = url_for(endpoint, **values)
    data = {}
    if method == "POST":
        data["csrf_token"] = csrf_token(client, "/login" if who == ANONYMOUS else "/account/password")
    response = client.open(url, method=method, data=data, headers=headers)
    sent_to_login = response.status_code == 302 and "next=" in (response.location or "")
    refused = response.status_code in (401, 403, 404) or sent_to_login
    if who in allowed:
        assert not refused, f"{who} refused on {endpoint}: {response.status_code}"
    elif who == ANONYMOUS:
        assert response.status_code == 401 or sent_to_login, f"anonymous reached {endpoint}"
    else:
        assert response.status_code in (403, 404), f"{who} reached {endpoint}"
