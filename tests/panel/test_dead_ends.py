"""No request gets stuck: a name held by an open request, a name taken by allocation time, an infected
bundle, a bundle replaced after its scan, an OPD that gives up; and the OPD hears how its request ended."""
from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from panel import storage
from panel.extensions import db
from panel.models import (
    Attachment,
    AttachmentKind,
    AuditEvent,
    HostingRequest,
    HostStatus,
    RequestStatus,
    RoleKey,
)
from panel.services.requests import workflow
from tests.panel import factories, flow, pdfs
from tests.panel.conftest import csrf_token
from tests.panel.openapi import conforms
from tests.panel.smtp import Inbox, smtp_server
from tests.support import tar_gz

WEBSHELL = tar_gz({"index.php": '<?php eval(base64_decode($_POST["x"])); ?>\n'})
CLEAN = tar_gz({"index.html": "<h1>Bersih</h1>\n"})


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    with smtp_server() as server:
        app.config.update(SMTP_HOST=server.host, SMTP_PORT=server.port, MAIL_FROM="wadah@contoh.go.id")
        yield server


@pytest.fixture
def people(app: Flask) -> dict[str, Any]:
    opd = factories.opd(name="Dinas Kesehatan")
    made: dict[str, Any] = {"opd": opd}
    made["opd_admin"] = factories.user([RoleKey.OPD_ADMIN], opd=opd, email="admin@dinkes.contoh.go.id")
    made["stranger"] = factories.user([RoleKey.OPD_ADMIN], email="admin@lain.contoh.go.id")
    for role in (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN):
        made[role.value] = factories.user([role])
    db.session.commit()
    made["tokens"] = {key: factories.api_token(user)[1] for key, user in made.items()
                      if key != "opd" and hasattr(user, "username")}
    db.session.commit()
    return made


def _bearer(people: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {people['tokens'][who]}"}


def _approved(people: dict[str, Any], **fields: Any) -> HostingRequest:
    filed = factories.hosting_request(owner=people["opd"], **fields)
    workflow.act(filed, people["head"], None, "Disposisi")
    workflow.act(filed, people["coordinator"], "ya", "Lengkap")
    db.session.commit()
    return filed


def _upload(api: Any, people: dict[str, Any], filed: HostingRequest, bundle: bytes,
            who: str = "opd_admin") -> Any:
    return api.post(f"/api/v1/requests/{filed.id}/bundle", headers=_bearer(people, who),
                    data={"bundle": (io.BytesIO(bundle), "aplikasi.tar.gz")},
                    content_type="multipart/form-data")


def _file_by_api(api: Any, people: dict[str, Any], subdomain: str) -> Any:
    return api.post("/api/v1/requests", headers=_bearer(people, "opd_admin"),
                    content_type="multipart/form-data",
                    data={"app_name": "SIMPEG", "subdomain": subdomain, "stack": "static",
                          "letter_surat_permohonan": (io.BytesIO(pdfs.letter()), "surat.pdf")})


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _audited(action: str, request_id: int) -> bool:
    return db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == action, AuditEvent.target_id == str(request_id))) is not None


# -- a name an open request asks for ----------------------------------------------------------------


def test_a_subdomain_an_open_request_asks_for_is_refused_at_filing(app: Flask, people) -> None:
    # Stored with capitals (as an older record might be): the rule compares without case.
    held = factories.hosting_request(subdomain="SimPeg")
    db.session.commit()
    api = app.test_client()
    refused = _file_by_api(api, people, "simpeg")
    assert refused.status_code == 422, refused.get_data(as_text=True)
    message = conforms(refused, "/requests", "post")["error"]["message"]
    assert "sudah dipakai aplikasi atau permohonan lain" in message
    assert _count(HostingRequest) == 1
    # Once that request is withdrawn the name is free again.
    workflow.withdraw(held, held.submitted_by, "Tidak jadi")
    db.session.commit()
    assert _file_by_api(api, people, "simpeg").status_code == 201


def test_the_filing_page_shows_the_name_is_held(app: Flask, client, people) -> None:
    factories.hosting_request(subdomain="sipeda")
    db.session.commit()
    flow_client = flow.signed_in(app, people["opd_admin"])
    page = flow_client.get("/requests/new").get_data(as_text=True)
    key = page.split('name="submission_key" type="hidden" value="')[1].split('"')[0]
    answer = flow_client.post("/requests/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(flow_client, "/requests/new"), "submission_key": key, "app_name": "Pajak",
        "subdomain": "sipeda", "stack": "static",
        "letter_surat_permohonan": (io.BytesIO(pdfs.letter()), "surat.pdf")})
    assert answer.status_code == 200
    assert "sudah dipakai aplikasi atau permohonan lain" in answer.get_data(as_text=True)
    assert _count(HostingRequest) == 1


# -- a name taken by the time of allocation ---------------------------------------------------------


def test_a_name_taken_by_allocation_time_goes_back_to_the_opd(
    app: Flask, people, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any],
) -> None:
    zone, _pki = flow.on_testbed(app, testbed, dns_zone)
    name = f"ambil{secrets.token_hex(3)}"
    filed = _approved(people, subdomain=name)
    report = factories.scan_report("clean")
    filed.artifact_sha256 = report.artifact_sha256
    workflow.act(filed, people["technician"])
    factories.host(status=HostStatus.ONLINE, facts={"memory_available_bytes": 8 * 1024**3})
    # Another app got the name in the meantime (e.g. created by the data center by hand).
    factories.app(subdomain=name, zone=zone.name)
    db.session.commit()
    api, path = app.test_client(), f"/api/v1/requests/{filed.id}"

    started = api.post(f"{path}/allocation", headers=_bearer(people, "technician"))
    assert started.status_code == 202
    job = flow.newest_job("allocate")
    assert job.status == "failed" and "sudah dipakai" in job.error and "dikembalikan ke OPD" in job.error
    db.session.refresh(filed)
    assert filed.status == RequestStatus.NEEDS_CORRECTION and filed.current_step == "cek_ketersediaan"
    assert _audited("request.returned", filed.id)
    # While it is with the OPD the technician cannot retry, and nobody else may rename it.
    assert api.post(f"{path}/allocation", headers=_bearer(people, "technician")).status_code == 422
    other = {"subdomain": "lain"}
    assert api.patch(path, headers=_bearer(people, "technician"), json=other).status_code == 403
    assert api.patch(path, headers=_bearer(people, "stranger"), json=other).status_code == 404
    own = _bearer(people, "opd_admin")
    for bad in (name, name.upper(), "lpse", "a b"):
        answer = api.patch(path, headers=own, json={"subdomain": bad})
        assert answer.status_code == 422, bad
        conforms(answer, "/requests/{request_id}", "patch")
    assert api.patch(path, headers=own, json={"subdomain": "x", "app_name": "y"}).status_code == 400
    chosen = f"{name}-baru"
    changed = api.patch(path, headers=own, json={"subdomain": chosen})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert conforms(changed, "/requests/{request_id}", "patch")["subdomain"] == chosen
    again = api.patch(path, headers=own, json={"subdomain": chosen})  # the double submit
    assert again.status_code == 409
    conforms(again, "/requests/{request_id}", "patch")
    db.session.refresh(filed)
    assert filed.status == RequestStatus.IN_PROGRESS and _audited("request.subdomain", filed.id)

    assert api.post(f"{path}/allocation", headers=_bearer(people, "technician")).status_code == 202
    assert flow.newest_job("allocate").status == "succeeded"
    db.session.refresh(filed)
    assert filed.current_step == "unggah_aplikasi"


def test_the_opd_chooses_another_name_on_the_request_page(app: Flask, people) -> None:
    filed = _approved(people)
    workflow.return_to_opd(filed, "Sub-domain sudah dipakai.")
    db.session.commit()
    page = flow.signed_in(app, people["opd_admin"])
    assert "Pilih sub-domain lain" in page.get(f"/requests/{filed.id}").get_data(as_text=True)
    flow.post(page, f"/requests/{filed.id}/subdomain", subdomain="lpse")
    db.session.refresh(filed)
    assert filed.status == RequestStatus.NEEDS_CORRECTION  # refused: a reserved name
    flow.post(page, f"/requests/{filed.id}/subdomain", subdomain="sikesehatan")
    db.session.refresh(filed)
    assert filed.subdomain == "sikesehatan" and filed.status == RequestStatus.IN_PROGRESS


# -- an infected bundle, a bundle replaced after its scan ---------------------------------------------


def test_an_infected_bundle_is_replaced_scanned_again_and_a_late_replacement_reopens_the_scan(
    app: Flask, people, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any],
) -> None:
    flow.on_testbed(app, testbed, dns_zone)
    filed = _approved(people)
    api, path, tech = app.test_client(), f"/api/v1/requests/{filed.id}", _bearer(people, "technician")
    assert _upload(api, people, filed, WEBSHELL).status_code == 200
    assert api.post(f"{path}/scan", headers=tech).status_code == 202
    assert flow.newest_job("scan").result["verdict"] == "infected"
    db.session.refresh(filed)
    assert filed.current_step == "verifikasi_keamanan"

    assert _upload(api, people, filed, CLEAN).status_code == 200
    assert api.post(f"{path}/scan", headers=tech).status_code == 202  # the scan runs again
    assert flow.newest_job("scan").result["verdict"] == "clean"
    db.session.refresh(filed)
    assert filed.current_step == "cek_ketersediaan"

    # A new bundle after the scan: back to the scan step, the earlier reports kept, no deploy.
    assert _upload(api, people, filed, tar_gz({"index.html": "<h1>Lain</h1>\n"})).status_code == 200
    db.session.refresh(filed)
    assert filed.current_step == "verifikasi_keamanan" and _audited("request.rescan", filed.id)
    reports = [a for a in filed.attachments if a.kind == AttachmentKind.SCAN_REPORT]
    assert len(reports) == 2
    assert api.post(f"{path}/allocation", headers=tech).status_code == 422
    assert api.post(f"{path}/deployment", headers=tech).status_code == 422
    assert api.post(f"{path}/step", headers=tech, json={}).status_code == 422  # not without a new scan


def test_the_sub_koordinator_rejects_with_the_refusal_letter(app: Flask, people, inbox: Inbox) -> None:
    filed = _approved(people)
    report = factories.scan_report("infected")
    filed.artifact_sha256 = report.artifact_sha256
    db.session.commit()
    inbox.clear()
    api, path = app.test_client(), f"/api/v1/requests/{filed.id}"
    reason = "Berkas aplikasi mengandung webshell dan tidak diganti."
    assert api.post(f"{path}/rejection", headers=_bearer(people, "technician"),
                    json={"reason": reason}).status_code == 403
    missing = api.post(f"{path}/rejection", headers=_bearer(people, "coordinator"), json={"reason": " "})
    assert missing.status_code == 400
    rejected = api.post(f"{path}/rejection", headers=_bearer(people, "coordinator"), json={"reason": reason})
    assert rejected.status_code == 200, rejected.get_data(as_text=True)
    assert conforms(rejected, "/requests/{request_id}/rejection", "post")["status"] == "rejected"
    again = api.post(f"{path}/rejection", headers=_bearer(people, "coordinator"), json={"reason": reason})
    assert again.status_code == 409
    db.session.refresh(filed)
    letter = db.session.scalar(select(Attachment).where(Attachment.request_id == filed.id,
                                                        Attachment.kind == AttachmentKind.RESPONSE_LETTER))
    text = pdfs_text(storage.attachments().path(letter.sha256).read_bytes())
    assert "BELUM DAPAT DISETUJUI" in text and "webshell" in text
    assert _audited("request.reject", filed.id)
    assert inbox.recipients() == ["admin@dinkes.contoh.go.id"]
    mail = inbox.messages[0].message
    assert mail["Subject"] == f"Permohonan {filed.number} ditolak" and reason in mail.get_content()


def pdfs_text(data: bytes) -> str:
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join((page.extract_text() or "").split()) for page in pages)


# -- withdrawal ------------------------------------------------------------------------------------


def test_the_opd_withdraws_its_open_request(app: Flask, people, inbox: Inbox) -> None:
    filed = _approved(people)
    inbox.clear()
    api, path = app.test_client(), f"/api/v1/requests/{filed.id}/withdrawal"
    own = _bearer(people, "opd_admin")
    assert api.post(path, headers=own, json={}).status_code == 400
    assert api.post(path, headers=_bearer(people, "stranger"), json={"reason": "x"}).status_code == 404
    assert api.post(path, headers=_bearer(people, "coordinator"), json={"reason": "x"}).status_code == 403
    withdrawn = api.post(path, headers=own, json={"reason": "Aplikasi diganti layanan pusat."})
    assert withdrawn.status_code == 200
    assert conforms(withdrawn, "/requests/{request_id}/withdrawal", "post")["status"] == "withdrawn"
    again = api.post(path, headers=own, json={"reason": "Aplikasi diganti layanan pusat."})
    assert again.status_code == 409
    conforms(again, "/requests/{request_id}/withdrawal", "post")
    db.session.refresh(filed)
    assert filed.status == RequestStatus.WITHDRAWN and filed.current_step is None
    assert all(step.finished_at is not None for step in filed.steps)
    assert _audited("request.withdraw", filed.id)
    assert inbox.recipients() == ["admin@dinkes.contoh.go.id"]
    assert "Aplikasi diganti layanan pusat." in inbox.messages[0].message.get_content()
    # Nothing more happens on it.
    assert _upload(api, people, filed, CLEAN).status_code == 422


def test_the_withdraw_button_on_the_page(app: Flask, people) -> None:
    filed = _approved(people)
    page = flow.signed_in(app, people["opd_admin"])
    assert "Tarik permohonan" in page.get(f"/requests/{filed.id}").get_data(as_text=True)
    flow.post(page, f"/requests/{filed.id}/withdrawal", reason="")
    db.session.refresh(filed)
    assert filed.status == RequestStatus.IN_PROGRESS
    flow.post(page, f"/requests/{filed.id}/withdrawal", reason="Tidak jadi.")
    db.session.refresh(filed)
    assert filed.status == RequestStatus.WITHDRAWN


def test_the_opd_hears_when_its_request_is_refused_at_review(app: Flask, people, inbox: Inbox) -> None:
    filed = factories.hosting_request(owner=people["opd"])
    workflow.act(filed, people["head"], None, "Disposisi")
    db.session.commit()
    inbox.clear()
    workflow.act(filed, people["coordinator"], "tidak", "Rekomendasi Tim Teknis tidak ada.")
    db.session.commit()
    assert inbox.recipients() == ["admin@dinkes.contoh.go.id"]
    assert "Rekomendasi Tim Teknis tidak ada." in inbox.messages[0].message.get_content()
