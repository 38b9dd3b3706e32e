"""SOP 002 "Pengembangan Aplikasi oleh Diskominfo" end to end: the OPD's request passes its 18 steps
(with the unavailable-resources report and a rejected plan on the way), the Tim Teknis's Rekomendasi
is made as a PDF at step 16, and a hosting request names that Rekomendasi by its number instead of
uploading a letter. The seed deploys nothing: the hosting follows under the hosting SOP."""
from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select

from panel import storage
from panel.extensions import db
from panel.models import AttachmentKind, HostingRequest, Opd, RequestStatus, RoleKey, User
from panel.services.requests import sop
from tests.panel import factories, flow
from tests.panel.openapi import conforms

SOP_002 = "pengembangan_aplikasi"
LETTERS = ("surat_permohonan", "surat_penunjukan_pengelola", "petunjuk_instalasi")


def bearer(user: User) -> dict[str, str]:
    _token, secret = factories.api_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _develop(client: FlaskClient, opd_admin: dict[str, str], subdomain: str) -> dict[str, Any]:
    filed = client.post("/api/v1/requests", headers=opd_admin, content_type="multipart/form-data", data={
        "app_name": "Sistem Informasi Posyandu", "subdomain": subdomain, "stack": "php", "template": SOP_002})
    return conforms(filed, "/requests", "post")


def _step(client: FlaskClient, who: dict[str, str], request_id: int, decision: str | None = None,
          note: str = "") -> dict[str, Any]:
    done = client.post(f"/api/v1/requests/{request_id}/step", headers=who,
                       json={"note": note, **({"decision": decision} if decision else {})})
    return conforms(done, "/requests/{request_id}/step", "post")


def _hosting(client: FlaskClient, opd_admin: dict[str, str], subdomain: str, **fields: Any) -> Any:
    letters = {f"letter_{kind}": (io.BytesIO(factories.MINIMAL_PDF), f"{kind}.pdf") for kind in LETTERS}
    return client.post("/api/v1/requests", headers=opd_admin, content_type="multipart/form-data", data={
        "app_name": "Sistem Informasi Posyandu", "subdomain": subdomain, "stack": "static", **letters,
        **fields})


def test_sop_002_runs_to_its_rekomendasi_which_a_hosting_request_names(app: Flask) -> None:
    app.config.update(DEFAULT_SOP_TEMPLATE="bolmut")  # a hosting SOP that asks for the Rekomendasi
    opd = factories.opd(name="Dinas Kesehatan")
    admin_user = factories.user([RoleKey.OPD_ADMIN], opd=opd)
    officials = {role: factories.user([role], full_name=f"Petugas {role}")
                 for role in (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN)}
    opd_admin = bearer(admin_user)
    head, coordinator, technician = (bearer(officials[r]) for r in (
        RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN))
    client = app.test_client()

    filed = _develop(client, opd_admin, "posyandu")
    request_id = filed["id"]
    assert filed["timeline"][0]["step"] == "surat_perintah" and filed["attachments"] == []
    _step(client, head, request_id, note="Daftar kebutuhan diperiksa")
    for note in ("Usulan kebutuhan", "Daftar kebutuhan", "Analisis kebutuhan dan aplikasi sejenis"):
        _step(client, coordinator, request_id, note=note)
    _step(client, head, request_id, "tidak_tersedia", "Anggaran belum tersedia")
    _step(client, head, request_id, "lanjut", "Laporan ketidaktersediaan; anggaran perubahan disetujui")
    _step(client, coordinator, request_id, note="Project dan repository dibuat, Tim Pengembangan ditugaskan")
    _step(client, technician, request_id, note="Rencana pengembangan")
    _step(client, technician, request_id, note="Presentasi mockup dan jadwal")
    back = _step(client, coordinator, request_id, "tidak", "Alur bisnis belum lengkap")
    assert back["current_step"] == "rencana_pengembangan"  # the plan is drawn up again
    _step(client, technician, request_id, note="Rencana pengembangan, revisi 1")
    _step(client, technician, request_id, note="Presentasi ulang")
    _step(client, coordinator, request_id, "ya", "Rencana disetujui")
    _step(client, technician, request_id, note="Aplikasi selesai dikembangkan")
    _step(client, technician, request_id, note="UAT, uji penetrasi dan petunjuk instalasi")
    _step(client, coordinator, request_id, note="Terpasang dan diuji di server Kominfo")
    at_letter = _step(client, coordinator, request_id, "ya", "Sesuai presentasi, lulus uji penetrasi")
    assert at_letter["current_step"] == "rekomendasi"

    # Step 16 finishes only with its letter, which the system makes.
    early = client.post(f"/api/v1/requests/{request_id}/step", headers=coordinator, json={})
    assert conforms(early, "/requests/{request_id}/step", "post")["error"]["message"] == (
        "Surat rekomendasi belum dibuat.")
    written = client.post(f"/api/v1/requests/{request_id}/recommendation-letter", headers=coordinator)
    after = conforms(written, "/requests/{request_id}/recommendation-letter", "post")
    assert written.status_code == 201 and after["current_step"] == "laporan_kadis"
    assert [a["kind"] for a in after["attachments"]] == ["rekomendasi_tim_teknis"]
    _step(client, head, request_id, note="Laporan dan dokumentasi pengembangan")
    closed = _step(client, head, request_id, note="Aplikasi disetujui Kadis")
    assert closed["status"] == "closed"
    development = db.session.get(HostingRequest, request_id)
    keys = [s.step_key for s in development.steps]
    assert len(set(keys)) == 18 == len(sop.builtin_templates()[SOP_002].steps)
    assert keys.count("rencana_pengembangan") == 2

    letter = next(a for a in development.attachments if a.kind == AttachmentKind.RECOMMENDATION)
    text = "".join(p.extract_text() for p in PdfReader(storage.attachments().path(letter.sha256)).pages)
    assert "SURAT REKOMENDASI" in text.upper() and development.number in text
    assert "posyandu.contoh.go.id" in text
    assert "lulus uji penetrasi" in text

    # The hosting request names the Rekomendasi by its number instead of uploading it.
    hosted = _hosting(client, opd_admin, "posyandu", rekomendasi=f"{development.number}/REK")
    detail = conforms(hosted, "/requests", "post")
    assert hosted.status_code == 201, detail
    named = next(a for a in detail["attachments"] if a["kind"] == "rekomendasi_tim_teknis")
    assert named["sha256"] == letter.sha256 and named["recommendation_of"] == development.number
    reader = flow.signed_in(app, officials[RoleKey.HEAD])
    page = reader.get(f"/requests/{detail['id']}").get_data(as_text=True)
    assert f"rekomendasi dari pengembangan aplikasi {development.number}" in page


def test_a_named_rekomendasi_is_checked_and_a_refused_filing_stores_nothing(app: Flask) -> None:
    app.config.update(DEFAULT_SOP_TEMPLATE="bolmut")
    opd, other = factories.opd(), factories.opd()
    mine = factories.user([RoleKey.OPD_ADMIN], opd=opd)
    theirs = factories.user([RoleKey.OPD_ADMIN], opd=other)
    unfinished = factories.hosting_request(owner=opd, template=SOP_002)
    hosting = factories.hosting_request(owner=opd)
    finished_without_letter = factories.hosting_request(owner=opd, template=SOP_002)
    finished_without_letter.status, finished_without_letter.current_step = RequestStatus.CLOSED, None
    db.session.commit()
    client = app.test_client()
    mine_token, theirs_token = bearer(mine), bearer(theirs)
    before = db.session.scalar(select(func.count()).select_from(HostingRequest))

    for who, number, reason in (
        (mine_token, "999/HOST/TEST/1999", "tidak ditemukan"),
        (mine_token, hosting.number, "tidak ditemukan"),  # a hosting request has no Rekomendasi
        (mine_token, unfinished.number, "belum selesai"),
        (theirs_token, unfinished.number, "OPD lain"),
        (mine_token, finished_without_letter.number, "tidak memiliki surat rekomendasi"),
    ):
        refused = _hosting(client, who, f"x{number[:3]}", rekomendasi=number)
        assert refused.status_code == 422 and reason in refused.get_json()["error"]["message"], number
    both = _hosting(client, mine_token, "keduanya", rekomendasi=unfinished.number,
                    letter_rekomendasi_tim_teknis=(io.BytesIO(factories.MINIMAL_PDF), "r.pdf"))
    assert both.status_code == 422 and "bukan keduanya" in both.get_json()["error"]["message"]
    without = _hosting(client, mine_token, "tanpa")
    assert without.status_code == 422 and "Rekomendasi Tim Teknis" in without.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(HostingRequest)) == before


def test_only_the_panels_template_or_sop_002_may_be_filed(app: Flask) -> None:
    opd: Opd = factories.opd()
    client = app.test_client()
    refused = client.post("/api/v1/requests", headers=bearer(factories.user([RoleKey.OPD_ADMIN], opd=opd)),
                          content_type="multipart/form-data",
                          data={"app_name": "A", "subdomain": "aaa", "stack": "php", "template": "batam"})
    assert refused.status_code == 422 and "batam" in refused.get_json()["error"]["message"]
