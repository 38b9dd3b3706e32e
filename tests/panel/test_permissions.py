"""Access control as a matrix: every route × every method × every role, against a table written by hand.

A new route, or a new method on an old one, fails `test_every_route_and_method_is_in_the_matrix` until
its row is added here, so nobody ships a verb whose access was never decided. Methods a route does not
declare answer 405 to everyone (`test_undeclared_methods_are_not_allowed`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, url_for
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import AuditEvent, Comment, Job, RequestStep, RoleKey
from panel.permissions import DATA_CENTER_ROLES, access_of, login_required
from tests.panel import factories
from tests.panel.conftest import csrf_token
from tests.panel.openapi import conforms

ANONYMOUS = "anonymous"
EVERYONE = frozenset({ANONYMOUS, *RoleKey})
SIGNED_IN = frozenset(RoleKey)
DATA_CENTER = frozenset(DATA_CENTER_ROLES)
REQUEST_READERS = DATA_CENTER | {RoleKey.OPD_ADMIN}
# Who takes part in a request's process (acts on its steps, writes in its thread): not the auditor.
# On another agency's request, as the matrix asks, the OPD admin among them gets 404.
REQUEST_WORKERS = DATA_CENTER - {RoleKey.AUDITOR}
TECHNICIAN = frozenset({RoleKey.TECHNICIAN})
SUPERADMIN = frozenset({RoleKey.SUPERADMIN})
OFFICIALS = frozenset({RoleKey.HEAD, RoleKey.COORDINATOR})
INFRASTRUCTURE_READERS = frozenset({RoleKey.TECHNICIAN, RoleKey.SUPERADMIN})
AUDIT_READERS = frozenset({RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.AUDITOR, RoleKey.SUPERADMIN})
# Of an app other than their own: only the data center's managing roles (see permissions.APP_MANAGERS).
APP_MANAGERS = frozenset({RoleKey.TECHNICIAN, RoleKey.SUPERADMIN})
# Methods Flask answers itself for every route (HEAD as GET, OPTIONS with the allowed methods).
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}
OTHER_METHODS = ("PUT", "PATCH", "DELETE")


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


def _foreign_app_action_restart() -> dict[str, Any]:
    return {"app_id": factories.app().id, "action": "restart"}


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
    built = factories.scan_report("infected", sha256=bundle.artifact_sha256, kind=ScanKind.BUILD)
    built.html_sha256, _ = storage.attachments().put(io.BytesIO(b"<p>laporan build</p>"), 10**6)
    release = factories.release(factories.app(), scan_report=bundle, build_scan_report_id=built.id)
    return {"app_id": release.app_id, "release_id": release.id}


def _foreign_review() -> dict[str, Any]:
    return {"upload_id": _foreign_upload()["upload_id"]}


def _foreign_env_var() -> dict[str, Any]:
    from panel.models import AppEnvVar

    var = AppEnvVar(app_id=factories.app().id, name="APP_MODE", value="produksi")
    db.session.add(var)
    db.session.flush()
    return {"app_id": var.app_id, "name": var.name}


def _foreign_finding() -> dict[str, Any]:
    from panel.models import AppFinding, FindingAction
    from panel.models.base import utcnow

    finding = AppFinding(app_id=factories.app().id, agent_id="a1b2c3", path="uploads/x.php",
                         served_path="uploads/x.php", sha256="0" * 64, rule="webshell", engine="php",
                         severity="high", detected_at=utcnow(), action=FindingAction.QUARANTINED)
    db.session.add(finding)
    db.session.flush()
    return {"app_id": finding.app_id, "finding_id": finding.id}


def _foreign_backup() -> dict[str, Any]:
    return {"app_id": factories.app().id, "backup_id": "a1b2c3d4"}


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
    token, _secret = factories.api_token(factories.user([RoleKey.TECHNICIAN]), "ci")
    return {"token_id": token.id}


def _pending_host() -> dict[str, Any]:
    return {"host_id": factories.host().id}


def _holiday() -> dict[str, Any]:
    from datetime import date

    from panel.models import Holiday

    holiday = Holiday(day=date(2031, 1, 1), name="Tahun Baru")
    db.session.add(holiday)
    db.session.flush()
    return {"holiday_id": holiday.id}


def _zone() -> dict[str, Any]:
    # Its server is a closed loopback port: a permitted "Uji" fails at once and touches nothing.
    return {"zone_id": factories.zone().id}


def _directory_user() -> dict[str, Any]:
    return {"user_id": factories.user([RoleKey.TECHNICIAN]).id}


def _opd() -> dict[str, Any]:
    return {"opd_id": factories.opd().id}


def _sop_template() -> dict[str, Any]:
    return {"key": "muara_enim"}


def _report_month() -> dict[str, Any]:
    from panel.models.base import utcnow
    from panel.services.reports.periods import Month

    return {"period": Month.current(utcnow()).key}


def _csv() -> dict[str, Any]:
    return {"fmt": "csv"}


# (endpoint, method) → (who may use it, what builds the URL's arguments). Being allowed means the
# route is not refused (no 401/403/404 and no detour to sign in); a domain rule may still say no.
MATRIX: dict[tuple[str, str], tuple[frozenset[str], Callable[[], dict[str, Any]]]] = {
    ("auth.login", "GET"): (EVERYONE, _no_args),
    ("auth.login", "POST"): (EVERYONE, _no_args),
    # Public, as the second half of a sign-in: without a pending marker it only redirects to /login.
    ("auth.login_totp", "GET"): (EVERYONE, _no_args),
    ("auth.login_totp", "POST"): (EVERYONE, _no_args),
    # A user's own account: the one kind of write the read-only auditor may make.
    ("auth.logout", "POST"): (SIGNED_IN, _no_args),
    ("auth.language", "POST"): (EVERYONE, _no_args),  # the sign-in page offers the language choice too
    ("auth.password", "GET"): (SIGNED_IN, _no_args),
    ("auth.password", "POST"): (SIGNED_IN, _no_args),
    ("auth.totp_settings", "GET"): (SIGNED_IN, _no_args),
    ("auth.totp_settings", "POST"): (SIGNED_IN, _no_args),
    ("auth.disable_totp", "POST"): (SIGNED_IN, _no_args),
    ("auth.tokens", "GET"): (SIGNED_IN, _no_args),
    ("auth.tokens", "POST"): (SIGNED_IN, _no_args),
    ("auth.revoke_token", "POST"): (frozenset(), _someone_elses_token),
    ("main.dashboard", "GET"): (SIGNED_IN, _no_args),
    ("main.dashboard_steps", "GET"): (SIGNED_IN, _no_args),
    ("audit.index", "GET"): (AUDIT_READERS, _no_args),
    ("audit.export", "GET"): (AUDIT_READERS, _no_args),
    ("reports.index", "GET"): (DATA_CENTER, _no_args),
    ("reports.monthly_pdf", "GET"): (DATA_CENTER, _report_month),
    ("reports.export_apps", "GET"): (DATA_CENTER, _csv),
    ("reports.export_requests", "GET"): (DATA_CENTER, _csv),
    ("requests.index", "GET"): (REQUEST_READERS, _no_args),
    ("requests.new", "GET"): (frozenset({RoleKey.OPD_ADMIN}), _no_args),
    ("requests.new", "POST"): (frozenset({RoleKey.OPD_ADMIN}), _no_args),
    ("requests.show", "GET"): (DATA_CENTER, _foreign_request),
    # Each participant still acts only on a step of its own role (workflow.act says so, not the route).
    ("requests.act", "POST"): (REQUEST_WORKERS, _foreign_request),
    ("requests.dispose", "POST"): (OFFICIALS, _foreign_request),
    ("requests.comment", "POST"): (REQUEST_WORKERS, _foreign_request),
    ("requests.attachment", "GET"): (DATA_CENTER, _foreign_attachment),
    ("requests.scan", "POST"): (TECHNICIAN, _foreign_request),
    ("requests.accept_review", "POST"): (TECHNICIAN, _foreign_request),
    ("requests.replace_bundle", "POST"): (TECHNICIAN, _foreign_request),
    ("requests.allocate", "POST"): (TECHNICIAN, _foreign_request),
    ("requests.deploy", "POST"): (TECHNICIAN, _foreign_request),
    ("requests.issue_login", "POST"): (TECHNICIAN, _foreign_request),
    ("requests.response_letter", "POST"): (frozenset({RoleKey.COORDINATOR}), _foreign_request),
    ("requests.recommendation_letter", "POST"): (frozenset({RoleKey.COORDINATOR}), _foreign_request),
    ("requests.change_subdomain", "POST"): (frozenset(), _foreign_request),  # its own OPD's only
    ("requests.withdraw", "POST"): (frozenset(), _foreign_request),  # its own OPD's only
    ("requests.reject", "POST"): (frozenset({RoleKey.COORDINATOR}), _foreign_request),
    ("admin.hosts_index", "GET"): (INFRASTRUCTURE_READERS, _no_args),
    ("admin.add_host", "POST"): (SUPERADMIN, _no_args),
    ("admin.refresh_host", "POST"): (SUPERADMIN, _pending_host),
    ("admin.reissue_token", "POST"): (SUPERADMIN, _pending_host),
    ("admin.reenroll_host", "POST"): (SUPERADMIN, _pending_host),
    ("admin.set_front_address", "POST"): (SUPERADMIN, _pending_host),
    ("admin.zones_index", "GET"): (INFRASTRUCTURE_READERS, _no_args),
    ("admin.add_zone", "POST"): (SUPERADMIN, _no_args),
    ("admin.zone", "GET"): (INFRASTRUCTURE_READERS, _zone),
    ("admin.probe_zone", "POST"): (SUPERADMIN, _zone),
    ("admin.pools_index", "GET"): (INFRASTRUCTURE_READERS, _no_args),
    ("admin.add_pool", "POST"): (SUPERADMIN, _no_args),
    ("admin.sop_templates", "GET"): (SUPERADMIN, _no_args),
    ("admin.sop_template", "GET"): (SUPERADMIN, _sop_template),
    ("admin.revise_sop", "POST"): (SUPERADMIN, _sop_template),
    # The directory of users and OPDs: the platform administrator's alone, reads included.
    ("admin.users_index", "GET"): (SUPERADMIN, _no_args),
    ("admin.add_user", "POST"): (SUPERADMIN, _no_args),
    ("admin.show_user", "GET"): (SUPERADMIN, _directory_user),
    ("admin.edit_user", "POST"): (SUPERADMIN, _directory_user),
    ("admin.reset_password", "POST"): (SUPERADMIN, _directory_user),
    ("admin.disable_user", "POST"): (SUPERADMIN, _directory_user),
    ("admin.enable_user", "POST"): (SUPERADMIN, _directory_user),
    ("admin.unlock_user", "POST"): (SUPERADMIN, _directory_user),
    ("admin.reset_totp", "POST"): (SUPERADMIN, _directory_user),
    ("admin.opds_index", "GET"): (SUPERADMIN, _no_args),
    ("admin.add_opd", "POST"): (SUPERADMIN, _no_args),
    ("admin.rename_opd", "POST"): (SUPERADMIN, _opd),
    ("admin.disable_opd", "POST"): (SUPERADMIN, _opd),
    ("admin.enable_opd", "POST"): (SUPERADMIN, _opd),
    ("admin.working_calendar", "GET"): (SUPERADMIN, _no_args),
    ("admin.save_working_hours", "POST"): (SUPERADMIN, _no_args),
    ("admin.add_holiday", "POST"): (SUPERADMIN, _no_args),
    ("admin.remove_holiday", "POST"): (SUPERADMIN, _holiday),
    ("apps.index", "GET"): (SIGNED_IN, _no_args),
    ("apps.reviews", "GET"): (TECHNICIAN, _no_args),
    ("apps.accept_upload", "POST"): (TECHNICIAN, _foreign_review),
    ("apps.record_external", "GET"): (TECHNICIAN, _no_args),
    ("apps.record_external", "POST"): (TECHNICIAN, _no_args),
    # The Web Panel: anyone who may see the app reads it (an app account or OPD admin of another app
    # or agency gets 404); the app account, its OPD admin, technicians and the superadmin act on it.
    ("webpanel.overview", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.control", "POST"): (APP_MANAGERS, _foreign_app_action),
    ("webpanel.logs", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.fetch_logs", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.stop_logs", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.metrics", "GET"): (DATA_CENTER, _foreign_app),
    # The limit takes room on the data center's disks: only the data center sets it, even on one's own app.
    ("webpanel.set_storage", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.uploads", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.upload", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.scan_report", "GET"): (DATA_CENTER, _foreign_upload),
    ("webpanel.releases", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.build_report", "GET"): (DATA_CENTER, _foreign_build_scan),
    ("webpanel.rollback", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.env", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.set_env", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.delete_env", "POST"): (APP_MANAGERS, _foreign_env_var),
    ("webpanel.reveal_env", "POST"): (APP_MANAGERS, _foreign_env_var),
    ("webpanel.apply_env", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.database", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.fetch_database", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.reset_database_password", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.show_database_password", "POST"): (APP_MANAGERS, _foreign_password_reset),
    ("webpanel.domain", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.check_domain", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.report_letter", "GET"): (DATA_CENTER, _foreign_app_with_letter),
    # Decommissioning and handing the login over are the data center's technicians' alone.
    ("webpanel.remove", "POST"): (TECHNICIAN, _foreign_app),
    ("webpanel.hand_over_login", "POST"): (TECHNICIAN, _foreign_app),
    # Backups: read by whoever sees the app, taken and restored by those who manage it; the schedule
    # and what a host quarantined are the data center's (technicians) to decide.
    ("webpanel.backups", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.take_backup", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.restore_backup", "POST"): (APP_MANAGERS, _foreign_backup),
    ("webpanel.set_backup_schedule", "POST"): (APP_MANAGERS, _foreign_app),
    ("webpanel.findings", "GET"): (DATA_CENTER, _foreign_app),
    ("webpanel.release_finding", "POST"): (APP_MANAGERS, _foreign_finding),
    ("webpanel.delete_finding", "POST"): (APP_MANAGERS, _foreign_finding),
    ("api.health", "GET"): (EVERYONE, _no_args),
    ("api.me", "GET"): (SIGNED_IN, _no_args),
    ("api.openapi", "GET"): (EVERYONE, _no_args),
    ("api.enroll_agent", "POST"): (EVERYONE, _no_args),  # the one-time token is the credential
    ("api.renew_agent", "POST"): (EVERYONE, _no_args),  # the agent's current key signs the request
    ("api.list_requests", "GET"): (REQUEST_READERS, _no_args),
    ("api.file_request", "POST"): (frozenset({RoleKey.OPD_ADMIN}), _no_args),
    ("api.get_request", "GET"): (DATA_CENTER, _foreign_request),
    ("api.act", "POST"): (REQUEST_WORKERS, _foreign_request),
    ("api.dispose", "POST"): (OFFICIALS, _foreign_request),
    ("api.comment", "POST"): (REQUEST_WORKERS, _foreign_request),
    ("api.attachment", "GET"): (DATA_CENTER, _foreign_attachment),
    ("api.scan", "POST"): (TECHNICIAN, _foreign_request),
    ("api.accept_review", "POST"): (TECHNICIAN, _foreign_request),
    ("api.replace_bundle", "POST"): (TECHNICIAN, _foreign_request),
    ("api.allocate", "POST"): (TECHNICIAN, _foreign_request),
    ("api.deploy", "POST"): (TECHNICIAN, _foreign_request),
    ("api.issue_login", "POST"): (TECHNICIAN, _foreign_request),
    ("api.response_letter", "POST"): (frozenset({RoleKey.COORDINATOR}), _foreign_request),
    ("api.recommendation_letter", "POST"): (frozenset({RoleKey.COORDINATOR}), _foreign_request),
    ("api.list_sop_templates", "GET"): (REQUEST_READERS, _no_args),
    ("api.change_request", "PATCH"): (frozenset(), _foreign_request),  # its own OPD's only
    ("api.withdraw", "POST"): (frozenset(), _foreign_request),  # its own OPD's only
    ("api.reject", "POST"): (frozenset({RoleKey.COORDINATOR}), _foreign_request),
    ("api.get_job", "GET"): (DATA_CENTER, _foreign_job),
    ("api.list_apps", "GET"): (SIGNED_IN, _no_args),
    ("api.get_app", "GET"): (DATA_CENTER, _foreign_app),
    ("api.record_app", "POST"): (TECHNICIAN, _no_args),
    ("api.remove_app", "DELETE"): (TECHNICIAN, _foreign_app),
    ("api.hand_over_login", "POST"): (TECHNICIAN, _foreign_app),
    # An app's actions for its OPD's CI: its agency's administrators (404 on another agency's app, as
    # here) and the technicians; the app account and the officials use the Web Panel or only read.
    ("api.control_app", "POST"): (TECHNICIAN, _foreign_app_action_restart),
    ("api.rollback_app", "POST"): (TECHNICIAN, _foreign_app),
    ("api.upload_release", "POST"): (TECHNICIAN, _foreign_app),
    ("api.app_logs", "GET"): (TECHNICIAN, _foreign_app),
    ("api.app_variables", "GET"): (TECHNICIAN, _foreign_app),
    ("api.set_app_variables", "PUT"): (TECHNICIAN, _foreign_app),
    ("api.reset_app_database_password", "POST"): (TECHNICIAN, _foreign_app),
    ("api.list_backups", "GET"): (DATA_CENTER, _foreign_app),
    ("api.take_backup", "POST"): (APP_MANAGERS, _foreign_app),
    ("api.restore_backup", "POST"): (APP_MANAGERS, _foreign_backup),
    ("api.set_backup_schedule", "PUT"): (APP_MANAGERS, _foreign_app),
    ("api.list_findings", "GET"): (DATA_CENTER, _foreign_app),
}
IGNORED = {"static"}
WRITES = {key for key in MATRIX if key[1] != "GET"}


def _declared_methods(app: Flask) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules() if rule.endpoint not in IGNORED
            for method in (rule.methods or set()) - AUTOMATIC_METHODS}


def test_every_route_and_method_is_in_the_matrix(app: Flask) -> None:
    declared = _declared_methods(app)
    assert declared - set(MATRIX) == set(), "routes or methods whose access nobody decided"
    assert set(MATRIX) - declared == set(), "matrix rows for routes or methods that do not exist"


def test_every_route_declares_its_access(app: Flask) -> None:
    with app.test_request_context():
        undeclared = sorted({e for e, _method in MATRIX if access_of(e) is None})
    assert undeclared == []


def test_undeclared_route_is_refused(app: Flask) -> None:
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    assert app.test_client().get("/forgotten").status_code == 403


def test_the_vendored_assets_are_public(app: Flask) -> None:
    for asset in ("wadah.css", "dashboard.js"):
        assert app.test_client().get(f"/static/{asset}").status_code == 200


def _request(app: Any, client: Any, login_as: Any, endpoint: str, method: str, who: str) -> Any:
    headers = {}
    if who != ANONYMOUS:
        user = login_as(RoleKey(who))
        if endpoint.startswith("api."):  # the API reads no session: it is called with a token
            headers["Authorization"] = "Bearer " + factories.api_token(user, "matrix")[1]
    _allowed, arguments = MATRIX[(endpoint, method)]
    values = arguments()
    db.session.commit()
    with app.test_request_context():
        url = url_for(endpoint, **values)
    data = {}
    if method != "GET":
        data["csrf_token"] = csrf_token(client, "/login" if who == ANONYMOUS else "/account/password")
    return client.open(url, method=method, data=data, headers=headers)


@pytest.mark.parametrize(("endpoint", "method"), sorted(MATRIX))
@pytest.mark.parametrize("who", sorted(EVERYONE))
def test_route_answers_each_role_as_declared(app, client, login_as, endpoint: str, method: str,
                                             who: str) -> None:
    allowed, _arguments = MATRIX[(endpoint, method)]
    response = _request(app, client, login_as, endpoint, method, who)
    sent_to_login = response.status_code == 302 and "next=" in (response.location or "")
    refused = response.status_code in (401, 403, 404) or sent_to_login
    if who in allowed:
        assert not refused, f"{who} refused on {method} {endpoint}: {response.status_code}"
    elif who == ANONYMOUS:
        assert response.status_code == 401 or sent_to_login, f"anonymous reached {method} {endpoint}"
    else:
        assert response.status_code in (403, 404), f"{who} reached {method} {endpoint}"


@pytest.mark.parametrize("endpoint", sorted({endpoint for endpoint, _method in MATRIX}))
def test_undeclared_methods_are_not_allowed(app: Flask, login_as, client, endpoint: str) -> None:
    _allowed, arguments = next(row for (e, _m), row in sorted(MATRIX.items()) if e == endpoint)
    values = arguments()
    db.session.commit()
    with app.test_request_context():
        url = url_for(endpoint, **values)
    # Every method of every route at this URL is a matrix row (see the test above); the rest answer 405.
    served = set(app.url_map.bind("localhost").allowed_methods(url)) - AUTOMATIC_METHODS
    assert served <= {method for _endpoint, method in MATRIX}
    stranger = app.test_client()
    login_as(RoleKey.SUPERADMIN)
    for other in (set(OTHER_METHODS) | {"GET", "POST"}) - served:
        assert stranger.open(url, method=other).status_code == 405, f"anonymous {other} {url}"
        assert client.open(url, method=other).status_code == 405, f"superadmin {other} {url}"


def test_the_auditor_writes_nothing_but_its_own_account() -> None:
    writes = {key for key in WRITES if RoleKey.AUDITOR in MATRIX[key][0]}
    assert writes == {("auth.login", "POST"), ("auth.login_totp", "POST"), ("auth.logout", "POST"),
                      ("auth.language", "POST"), ("auth.password", "POST"), ("auth.totp_settings", "POST"),
                      ("auth.disable_totp", "POST"), ("auth.tokens", "POST"), ("api.enroll_agent", "POST"),
                      ("api.renew_agent", "POST")}


def test_the_officials_write_what_the_sop_gives_them() -> None:
    # Kabid/Kadis: decide on their steps, dispose, coordinate. Kasie/Sub Koordinator: the same, and
    # the response letter. Neither scans, allocates, deploys, issues logins nor manages an app or a host.
    def writes(role: RoleKey) -> set[tuple[str, str]]:
        return {key for key in WRITES if role in MATRIX[key][0] and not key[0].startswith("auth.")
                and key not in {("api.enroll_agent", "POST"), ("api.renew_agent", "POST")}}

    shared = {("requests.act", "POST"), ("requests.dispose", "POST"), ("requests.comment", "POST"),
              ("api.act", "POST"), ("api.dispose", "POST"), ("api.comment", "POST")}
    assert writes(RoleKey.HEAD) == shared
    assert writes(RoleKey.COORDINATOR) == shared | {("requests.response_letter", "POST"),
                                                    ("api.response_letter", "POST"),
                                                    ("requests.recommendation_letter", "POST"),
                                                    ("api.recommendation_letter", "POST"),
                                                    ("requests.reject", "POST"), ("api.reject", "POST")}


# The auditor is read-only everywhere: the attack, and that nothing was written.


def _nothing_written(request_id: int, steps_before: int) -> None:
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0
    assert db.session.scalar(select(func.count()).select_from(RequestStep)
                             .where(RequestStep.request_id == request_id,
                                    RequestStep.finished_at.is_not(None))) == steps_before
    assert not db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.in_(["request.comment", "request.step"]))).all()


def test_an_auditor_cannot_post_a_comment_or_act_on_a_step(app: Flask, client, login_as) -> None:
    filed = factories.hosting_request()
    db.session.commit()
    steps = db.session.scalar(select(func.count()).select_from(RequestStep).where(
        RequestStep.request_id == filed.id, RequestStep.finished_at.is_not(None)))
    auditor = login_as(RoleKey.AUDITOR)
    token = csrf_token(client, f"/requests/{filed.id}")  # the auditor may read the request
    said = client.post(f"/requests/{filed.id}/comments",
                       data={"body": "Saya ikut menulis.", "csrf_token": token})
    assert said.status_code == 403
    acted = client.post(f"/requests/{filed.id}/act", data={"decision": "ya", "note": "", "csrf_token": token})
    assert acted.status_code == 403

    _token, secret = factories.api_token(auditor)
    db.session.commit()
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    said = api.post(f"/api/v1/requests/{filed.id}/comments", headers=bearer, json={"body": "Lewat API."})
    assert conforms(said, "/requests/{request_id}/comments", "post")["error"]["status"] == 403
    acted = api.post(f"/api/v1/requests/{filed.id}/step", headers=bearer, json={"decision": "ya"})
    assert conforms(acted, "/requests/{request_id}/step", "post")["error"]["status"] == 403
    assert api.get(f"/api/v1/requests/{filed.id}", headers=bearer).status_code == 200  # reading is fine
    _nothing_written(filed.id, steps)


def test_a_write_route_that_forgets_the_auditor_still_refuses_it(app: Flask, client, login_as) -> None:
    # Declared for any signed-in user, as a careless new route might be: the auditor is refused anyway.
    written: list[str] = []
    app.add_url_rule("/forgetful", "forgetful", login_required(lambda: written.append("x") or "ok"),
                     methods=["POST"])
    login_as(RoleKey.AUDITOR)
    token = csrf_token(client, "/account/password")
    assert client.post("/forgetful", data={"csrf_token": token}).status_code == 403
    assert written == []
    # Another role is let through, so the refusal was the auditor's alone.
    other = app.test_client()
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    other.post("/login", data={"username": technician.username, "password": factories.PASSWORD,
                               "csrf_token": csrf_token(other, "/login")})
    token = csrf_token(other, "/account/password")
    assert other.post("/forgetful", data={"csrf_token": token}).status_code == 200
    assert written == ["x"]


def test_an_auditor_who_also_holds_a_working_role_may_use_it(app: Flask, client) -> None:
    filed = factories.hosting_request()
    both = factories.user([RoleKey.AUDITOR, RoleKey.COORDINATOR])
    db.session.commit()
    client.post("/login", data={"username": both.username, "password": factories.PASSWORD,
                                "csrf_token": csrf_token(client, "/login")})
    token = csrf_token(client, f"/requests/{filed.id}")
    said = client.post(f"/requests/{filed.id}/comments",
                       data={"body": "Sebagai koordinator.", "csrf_token": token})
    assert said.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 1
