"""The JSON API: personal tokens, the published OpenAPI document, and the request flow's bad inputs."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import func, select

from panel.blueprints.api import openapi_document
from panel.extensions import db
from panel.models import (
    ApiToken,
    App,
    Artifact,
    AttachmentKind,
    AuditEvent,
    HostingRequest,
    Job,
    JobStatus,
    RequestStatus,
    RoleKey,
    User,
    Verdict,
)
from panel.models.base import utcnow
from panel.services.accounts import api_tokens, totp
from panel.services.requests import workflow
from tests.panel import factories, pdfs
from tests.panel.conftest import csrf_token
from tests.panel.openapi import conforms
from tests.support import tar_gz


def bearer(user: User) -> dict[str, str]:
    _token, secret = factories.api_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


# -- tokens ---------------------------------------------------------------------------------------


def test_token_is_shown_once_and_only_its_digest_is_kept(client: FlaskClient, login_as: Any) -> None:
    user = login_as(RoleKey.TECHNICIAN)
    page = client.post("/account/tokens", data={"name": "skrip CI", "lifetime_days": "30",
                                                "csrf_token": csrf_token(client, "/account/tokens")})
    assert page.status_code == 201 and page.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<code class="secret">(wadah_[^<]+)</code>', page.get_data(as_text=True)).group(1)

    token = db.session.scalar(select(ApiToken))
    assert token.user_id == user.id and secret not in (token.secret_sha256, token.prefix)
    assert secret not in client.get("/account/tokens").get_data(as_text=True)
    assert not any(secret in str(e.details) for e in db.session.scalars(select(AuditEvent)))

    api = client.application.test_client()
    answer = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert conforms(answer, "/me")["username"] == user.username
    assert "Set-Cookie" not in answer.headers


def test_revoked_token_is_refused_at_once(client: FlaskClient, login_as: Any) -> None:
    user = login_as(RoleKey.TECHNICIAN)
    headers = bearer(user)
    token = db.session.scalar(select(ApiToken))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    response = client.post(f"/account/tokens/{token.id}/revoke",
                           data={"csrf_token": csrf_token(client, "/account/tokens")})
    assert response.status_code == 302
    refused = client.application.test_client().get("/api/v1/me", headers=headers)
    assert conforms(refused, "/me")["error"]["code"] == "unauthorized"


def test_another_users_token_cannot_be_revoked(client: FlaskClient, login_as: Any) -> None:
    owner = factories.user([RoleKey.TECHNICIAN])
    token, _secret = factories.api_token(owner, "milik orang lain")
    db.session.commit()
    login_as(RoleKey.TECHNICIAN)
    response = client.post(f"/account/tokens/{token.id}/revoke",
                           data={"csrf_token": csrf_token(client, "/account/tokens")})
    assert response.status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None


@pytest.mark.parametrize("spoil", ["wrong_secret", "malformed", "expired", "older_than_the_limit",
                                   "must_change", "inactive", "second_factor_missing", "not_bearer"])
def test_bad_tokens_are_refused(app: Flask, spoil: str) -> None:
    user = factories.user([RoleKey.TECHNICIAN])
    token, secret = factories.api_token(user)
    header = f"Bearer {secret}"
    if spoil == "wrong_secret":
        header = header[:-4] + ("AAAA" if not header.endswith("AAAA") else "BBBB")
    elif spoil == "malformed":
        header = "Bearer wadah_'; DROP TABLE users; --"
    elif spoil == "expired":
        token.expires_at = utcnow() - timedelta(seconds=1)
    elif spoil == "older_than_the_limit":  # the limit was lowered after the token was issued
        app.config["API_TOKEN_MAX_DAYS"] = 7
        token.created_at = utcnow() - timedelta(days=8)
    elif spoil == "second_factor_missing":  # the role now requires one, and its holder has none
        app.config["TOTP_REQUIRED_ROLES"] = ("technician",)
    elif spoil == "must_change":
        user.must_change_password = True
    elif spoil == "inactive":
        user.active = False
    elif spoil == "not_bearer":
        header = f"Basic {secret}"
    db.session.commit()
    response = app.test_client().get("/api/v1/requests", headers={"Authorization": header})
    assert conforms(response, "/requests")["error"]["status"] == 401


def test_a_browser_session_does_not_authenticate_the_api(client: FlaskClient, login_as: Any) -> None:
    login_as(RoleKey.TECHNICIAN)
    assert client.get("/").status_code == 200  # the session works for the pages
    # ...but a page on another site making the browser POST to the API carries no authority.
    response = client.post("/api/v1/requests/1/scan")
    assert response.status_code == 401 and response.is_json


def test_token_limits(app: Flask) -> None:
    user = factories.user([RoleKey.TECHNICIAN])
    with pytest.raises(api_tokens.TokenRefused):
        factories.api_token(user, " ")
    for n in range(api_tokens.MAX_TOKENS_PER_USER):
        factories.api_token(user, f"t{n}")
    with pytest.raises(api_tokens.TokenRefused):
        factories.api_token(user, "satu lagi")


@pytest.mark.parametrize("lifetime", ["", "0", "91", "3650"])
def test_every_token_expires_within_the_limit(client: FlaskClient, login_as: Any, lifetime: str) -> None:
    login_as(RoleKey.TECHNICIAN)
    assert client.application.config["API_TOKEN_MAX_DAYS"] == 90
    page = client.post("/account/tokens", data={"name": "selamanya", "lifetime_days": lifetime,
                                                "csrf_token": csrf_token(client, "/account/tokens")})
    assert page.status_code == 200
    assert "Masa berlaku token wajib diisi: 1 sampai 90 hari." in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_a_token_issued_at_the_limit_ends_then(client: FlaskClient, login_as: Any) -> None:
    login_as(RoleKey.TECHNICIAN)
    page = client.post("/account/tokens", data={"name": "otomasi", "lifetime_days": "90",
                                                "csrf_token": csrf_token(client, "/account/tokens")})
    assert page.status_code == 201
    token = db.session.scalar(select(ApiToken))
    lifetime = token.expires_at - token.created_at
    assert timedelta(days=90) - timedelta(minutes=1) < lifetime <= timedelta(days=90)


def test_a_role_that_must_use_the_second_factor_gets_no_token_without_it(app: Flask) -> None:
    admin = factories.user([RoleKey.SUPERADMIN])
    with pytest.raises(api_tokens.TokenRefused, match="verifikasi dua langkah"):
        factories.api_token(admin)
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    # Switched on, it may have one.
    secret = totp.new_secret()
    totp.enable(admin, secret, pyotp.TOTP(secret).now())
    assert factories.api_token(admin)[0].user_id == admin.id


# -- the document ---------------------------------------------------------------------------------


def test_openapi_document_is_valid_and_published(app: Flask) -> None:
    document = openapi_document()
    validate(document)
    assert app.test_client().get("/api/v1/openapi.json").get_json() == document


def test_every_api_route_is_documented_and_every_documented_path_exists(app: Flask) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in openapi_document()["paths"].items()
                  for method in item if method != "parameters"}
    assert routes == documented


def test_document_enums_match_the_code() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert set(schemas["RequestStatus"]["enum"]) == set(RequestStatus)
    assert set(schemas["Job"]["properties"]["status"]["enum"]) == set(JobStatus)
    verdicts = schemas["RequestDetail"]["allOf"][1]["properties"]["scan"]["oneOf"][1]
    assert set(verdicts["properties"]["verdict"]["enum"]) - {None} == set(Verdict)
    filing = openapi_document()["paths"]["/requests"]["post"]["requestBody"]["content"]
    letters = {name.removeprefix("letter_") for name in
               filing["multipart/form-data"]["schema"]["properties"] if name.startswith("letter_")}
    assert letters == {AttachmentKind.REQUEST_LETTER, AttachmentKind.RECOMMENDATION,
                       AttachmentKind.APPOINTMENT_LETTER, AttachmentKind.INSTALL_GUIDE}


# -- requests through the API ---------------------------------------------------------------------


SITE = tar_gz({"index.html": "<h1>hai</h1>"})  # built once: a retry sends the same bytes


def _filing(subdomain: str = "simpeg", **fields: Any) -> dict[str, Any]:
    return {"app_name": "Sistem Kepegawaian", "subdomain": subdomain, "stack": "static",
            "letter_surat_permohonan": (io.BytesIO(factories.MINIMAL_PDF), "surat.pdf"),
            "bundle": (io.BytesIO(SITE), "situs.tar.gz"), **fields}


def test_opd_admin_files_a_request_once_per_idempotency_key(app: Flask) -> None:
    headers = {**bearer(factories.user([RoleKey.OPD_ADMIN])), "Idempotency-Key": "kirim-1"}
    client = app.test_client()
    first = client.post("/api/v1/requests", headers=headers, data=_filing(),
                        content_type="multipart/form-data")
    filed = conforms(first, "/requests", "post")
    assert first.status_code == 201 and filed["number"].endswith(f"/{utcnow().year}")
    assert [a["kind"] for a in filed["attachments"]] == ["surat_permohonan"]
    assert filed["timeline"][0]["step"] == "mulai"
    again = client.post("/api/v1/requests", headers=headers, data=_filing(),
                        content_type="multipart/form-data")
    assert conforms(again, "/requests", "post")["id"] == filed["id"]
    assert db.session.scalar(select(func.count()).select_from(HostingRequest)) == 1


def _row(filed: HostingRequest) -> dict[str, Any]:
    db.session.refresh(filed)
    return {column: getattr(filed, column) for column in (
        "number", "opd_id", "submitted_by_id", "app_name", "subdomain", "description", "contact",
        "artifact_sha256", "submission_key", "submission_digest", "status")}


def test_another_opd_sending_the_same_idempotency_key_files_its_own_request(app: Flask) -> None:
    client = app.test_client()
    first_admin, second_admin = factories.user([RoleKey.OPD_ADMIN]), factories.user([RoleKey.OPD_ADMIN])
    secret_contact, secret_plan = "Andi, 0812-7777-0001", "Rencana migrasi server kepegawaian"
    first = client.post("/api/v1/requests", headers={**bearer(first_admin), "Idempotency-Key": "kirim-1"},
                        data=_filing(subdomain="simpeg", contact=secret_contact, description=secret_plan),
                        content_type="multipart/form-data")
    assert first.status_code == 201
    filed_first = db.session.get(HostingRequest, first.get_json()["id"])
    before = _row(filed_first)

    # The second OPD guesses (or happens on) the same key and files a request of its own.
    other_site = tar_gz({"index.html": "<h1>dinas lain</h1>"})
    second = client.post(
        "/api/v1/requests", headers={**bearer(second_admin), "Idempotency-Key": "kirim-1"},
        data=_filing(subdomain="sipeda", app_name="Sistem Pendapatan", contact="Sari, 0813",
                     bundle=(io.BytesIO(other_site), "lain.tar.gz")),
        content_type="multipart/form-data")
    answer = conforms(second, "/requests", "post")
    assert second.status_code == 201 and answer["id"] != filed_first.id
    assert answer["opd"] == second_admin.opd.code and answer["subdomain"] == "sipeda"
    text = second.get_data(as_text=True)
    for leaked in (secret_contact, secret_plan, before["number"], "simpeg", filed_first.artifact_sha256):
        assert leaked not in text
    assert _row(filed_first) == before
    filed_second = db.session.get(HostingRequest, answer["id"])
    assert (filed_second.submitted_by_id, filed_second.opd_id) == (second_admin.id, second_admin.opd_id)
    assert db.session.scalar(select(func.count()).select_from(HostingRequest)) == 2


@pytest.mark.parametrize("changed", [
    {"subdomain": "sipeda"},
    {"contact": "orang lain"},
    {"letter_surat_permohonan": (io.BytesIO(pdfs.letter(b"/Lang(id-ID)")), "surat.pdf")},
    {"bundle": (io.BytesIO(tar_gz({"index.html": "<h1>lain</h1>"})), "situs.tar.gz")},
])
def test_the_same_idempotency_key_with_other_content_is_refused(app: Flask, changed: dict[str, Any]) -> None:
    headers = {**bearer(factories.user([RoleKey.OPD_ADMIN])), "Idempotency-Key": "kirim-1"}
    client = app.test_client()
    first = client.post("/api/v1/requests", headers=headers, data=_filing(),
                        content_type="multipart/form-data")
    filed = db.session.get(HostingRequest, first.get_json()["id"])
    before = _row(filed)
    again = client.post("/api/v1/requests", headers=headers, data=_filing(**changed),
                        content_type="multipart/form-data")
    error = conforms(again, "/requests", "post")["error"]
    assert again.status_code == 422 and error["code"] == "idempotency_key_reused"
    assert filed.number in error["message"] and "isi yang berbeda" in error["message"]
    assert _row(filed) == before
    assert db.session.scalar(select(func.count()).select_from(HostingRequest)) == 1


def test_a_php_app_asks_for_a_database_through_the_api(app: Flask) -> None:
    headers = bearer(factories.user([RoleKey.OPD_ADMIN]))
    response = app.test_client().post("/api/v1/requests", headers=headers, content_type="multipart/form-data",
                                      data=_filing(stack="php", needs_database="true"))
    assert response.status_code == 201 and conforms(response, "/requests", "post")["needs_database"] is True
    assert db.session.scalar(select(HostingRequest)).needs_database


@pytest.mark.parametrize(("fields", "status", "says"), [
    ({"letter_surat_permohonan": (io.BytesIO(b"<?php system($_GET[1]);"), "surat.pdf")}, 422, "PDF"),
    ({"subdomain": "Bukan_Label!"}, 422, "ub-domain"),
    ({"subdomain": "www"}, 422, "ub-domain"),
    ({"app_name": ""}, 400, "app_name"),
    ({"stack": "x" * 40}, 400, "stack"),
    ({"needs_database": "mungkin"}, 400, "needs_database"),
    ({"needs_database": "true"}, 422, "basis data"),  # the filing's stack is static
])
def test_bad_filings_are_refused_clearly_and_store_nothing(app: Flask, fields: dict[str, Any], status: int,
                                                          says: str) -> None:
    headers = bearer(factories.user([RoleKey.OPD_ADMIN]))
    response = app.test_client().post("/api/v1/requests", headers=headers, data=_filing(**fields),
                                      content_type="multipart/form-data")
    error = conforms(response, "/requests", "post")["error"]
    assert response.status_code == status and says in error["message"] + str(error.get("fields"))
    assert db.session.scalar(select(func.count()).select_from(HostingRequest)) == 0


def test_opd_admin_sees_only_its_own_requests(app: Flask) -> None:
    own = factories.hosting_request()
    foreign = factories.hosting_request()
    admin = db.session.get(User, own.submitted_by_id)
    headers = bearer(admin)
    client = app.test_client()
    listed = conforms(client.get("/api/v1/requests", headers=headers), "/requests")
    assert [r["id"] for r in listed["items"]] == [own.id]
    hidden = client.get(f"/api/v1/requests/{foreign.id}", headers=headers)
    assert conforms(hidden, "/requests/{request_id}")["error"]["status"] == 404
    other_letter = foreign.attachments[0].id
    assert client.get(f"/api/v1/requests/{foreign.id}/attachments/{other_letter}",
                      headers=headers).status_code == 404


def test_request_list_pages_with_before(app: Flask) -> None:
    made = [factories.hosting_request() for _ in range(5)]
    headers = bearer(factories.user([RoleKey.TECHNICIAN]))
    client = app.test_client()
    first = conforms(client.get("/api/v1/requests?limit=2", headers=headers), "/requests")
    second = conforms(client.get(f"/api/v1/requests?limit=2&before={first['next_before']}",
                                 headers=headers), "/requests")
    third = conforms(client.get(f"/api/v1/requests?limit=2&before={second['next_before']}",
                                headers=headers), "/requests")
    ids = [r["id"] for page in (first, second, third) for r in page["items"]]
    assert ids == sorted((r.id for r in made), reverse=True) and third["next_before"] is None
    bad = client.get("/api/v1/requests?before=abc", headers=headers)
    assert conforms(bad, "/requests")["error"]["fields"] == {"before": "id bilangan bulat"}


def test_steps_dispositions_and_comments_through_the_api(app: Flask) -> None:
    filed = factories.hosting_request()
    head = bearer(factories.user([RoleKey.HEAD]))
    coordinator = bearer(factories.user([RoleKey.COORDINATOR]))
    client = app.test_client()
    path = f"/api/v1/requests/{filed.id}"

    step = client.post(f"{path}/step", headers=head, json={"note": "Disposisi Kadis"})
    assert conforms(step, "/requests/{request_id}/step", "post")["current_step"] == "telaah_koordinasi"
    sent = client.post(f"{path}/dispositions", headers=head,
                       json={"to_role": "coordinator", "note": "Telaah"})
    conforms(sent, "/requests/{request_id}/dispositions", "post")
    wrong = client.post(f"{path}/dispositions", headers=head, json={"to_role": "superadmin", "note": "x"})
    assert conforms(wrong, "/requests/{request_id}/dispositions", "post")["error"]["code"] == "invalid_input"
    said = client.post(f"{path}/comments", headers=coordinator, json={"body": "Mohon lengkapi petunjuk."})
    assert conforms(said, "/requests/{request_id}/comments", "post")["body"] == "Mohon lengkapi petunjuk."
    # The technician's step cannot be finished by the coordinator, who holds a different role.
    done = client.post(f"{path}/step", headers=coordinator, json={"decision": "ya", "note": "ok"})
    conforms(done, "/requests/{request_id}/step", "post")
    refused = client.post(f"{path}/step", headers=coordinator, json={"note": "lagi"})
    assert conforms(refused, "/requests/{request_id}/step", "post")["error"]["code"] == "refused"


def test_a_second_scan_while_one_is_queued_is_refused(app: Flask) -> None:
    filed = factories.hosting_request()
    workflow.act(filed, factories.user([RoleKey.HEAD]), None, "Disposisi")
    workflow.act(filed, factories.user([RoleKey.COORDINATOR]), "ya", "Lengkap")
    assert filed.current_step == "verifikasi_keamanan"
    db.session.add(Artifact(sha256="ab" * 32, size=1, original_name="situs.zip"))
    filed.artifact_sha256 = "ab" * 32
    db.session.add(Job(kind="scan", target_type="HostingRequest", target_id=str(filed.id),
                       status=JobStatus.QUEUED))
    technician = bearer(factories.user([RoleKey.TECHNICIAN]))
    response = app.test_client().post(f"/api/v1/requests/{filed.id}/scan", headers=technician)
    assert conforms(response, "/requests/{request_id}/scan", "post")["error"]["code"] == "job_running"
    assert db.session.scalar(select(func.count()).select_from(Job)) == 1


def test_unknown_api_path_answers_json(app: Flask) -> None:
    response = app.test_client().get("/api/v1/tidak-ada")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def _at_allocation() -> HostingRequest:
    filed = factories.hosting_request()
    workflow.act(filed, factories.user([RoleKey.HEAD]), None, "Disposisi")
    workflow.act(filed, factories.user([RoleKey.COORDINATOR]), "ya", "Lengkap")
    filed.artifact_sha256 = factories.scan_report("clean").artifact_sha256
    workflow.act(filed, factories.user([RoleKey.TECHNICIAN]), None, "Bersih")
    assert filed.current_step == "cek_ketersediaan"
    db.session.commit()
    return filed


def test_allocation_is_a_job_that_fails_with_the_reason_and_allocates_nothing(app: Flask) -> None:
    filed = _at_allocation()
    factories.zone(name="contoh.go.id")  # its DNS server is a closed loopback port: the check cannot pass
    technician = bearer(factories.user([RoleKey.TECHNICIAN]))
    db.session.commit()
    client = app.test_client()
    response = client.post(f"/api/v1/requests/{filed.id}/allocation", headers=technician)
    started = conforms(response, "/requests/{request_id}/allocation", "post")
    assert response.status_code == 202 and started["kind"] == "allocate"
    job = conforms(client.get(f"/api/v1/jobs/{started['id']}", headers=technician), "/jobs/{job_id}", "get")
    # Jobs run inline in tests: by now it has asked the zone's server, which does not answer.
    assert job["status"] == "failed" and "DNS belum dapat diperiksa" in job["error"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(App)) == 0
    assert filed.current_step == "cek_ketersediaan"


def test_a_second_allocation_while_one_is_queued_is_refused(app: Flask, client: FlaskClient,
                                                            login_as: Any) -> None:
    filed = _at_allocation()
    factories.zone(name="contoh.go.id")
    db.session.add(Job(kind="allocate", target_type="HostingRequest", target_id=str(filed.id),
                       status=JobStatus.QUEUED))
    user = login_as(RoleKey.TECHNICIAN)
    response = app.test_client().post(f"/api/v1/requests/{filed.id}/allocation", headers=bearer(user))
    assert conforms(response, "/requests/{request_id}/allocation", "post")["error"]["code"] == "job_running"
    path = f"/requests/{filed.id}"
    page = client.post(f"{path}/allocate", data={"csrf_token": csrf_token(client, path)},
                       follow_redirects=True)
    assert "Pekerjaan yang sama sedang berjalan" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Job)) == 1
    assert db.session.scalar(select(func.count()).select_from(App)) == 0


def test_sop_templates_are_listed_with_their_key_name_and_steps(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/api/v1/sop-templates", headers=bearer(factories.user([RoleKey.OPD_ADMIN])))
    items = {t["key"]: t for t in conforms(answer, "/sop-templates", "get")["items"]}
    assert set(items) == {"muara_enim", "batam", "bolmut", "pengembangan_aplikasi"}
    development = items["pengembangan_aplikasi"]
    assert (development["steps"], development["kind"]) == (18, "pengembangan")
    assert items["muara_enim"] == {"key": "muara_enim", "name": "Permohonan Sub Domain dan Hosting Aplikasi "
                                   "(Muara Enim)", "kind": "hosting", "version": 1, "steps": 8}
    assert client.get("/api/v1/sop-templates").status_code == 401
    assert client.get("/api/v1/sop-templates",
                      headers=bearer(factories.user([RoleKey.APP_ACCOUNT]))).status_code == 403
