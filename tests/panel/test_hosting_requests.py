"""Filing and following a hosting request through the UI, bad input included."""
from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import func, select

from panel.extensions import db
from panel.models import Artifact, HostingRequest, RequestStatus, RoleKey
from tests.panel import factories, pdfs
from tests.panel.conftest import csrf_token

BUNDLE = b"PK\x05\x06" + b"\0" * 18  # an empty zip archive


def _form(client, **overrides):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/requests/new")
    page = client.get("/requests/new").get_data(as_text=True)
    key = page.split('name="submission_key" type="hidden" value="')[1].split('"')[0]
    data = {
        "csrf_token": token, "submission_key": key, "app_name": "Sistem Informasi Kepegawaian",
        "subdomain": "simpeg", "stack": "php", "description": "Aplikasi kepegawaian",
        "contact": "Budi, 0812", "letter_surat_permohonan": (io.BytesIO(factories.MINIMAL_PDF), "surat.pdf"),
        "bundle": (io.BytesIO(BUNDLE), "simpeg.zip"),
    }
    data.update(overrides)
    return data


def _count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_opd_admin_files_a_request_with_letter_and_bundle(app, client, login_as) -> None:
    admin = login_as(RoleKey.OPD_ADMIN)
    response = client.post("/requests/new", data=_form(client), content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    filed = db.session.scalar(select(HostingRequest))
    assert filed.opd_id == admin.opd_id and filed.number.startswith("001/HOST/DISKOMINFO/")
    assert filed.status == RequestStatus.SUBMITTED and filed.current_step == "terima_permohonan"
    assert [a.kind for a in filed.attachments] == ["surat_permohonan"]
    assert db.session.get(Artifact, filed.artifact_sha256).size == len(BUNDLE)
    page = client.get(response.location).get_data(as_text=True)
    assert filed.number in page and "simpeg." in page


def test_an_app_that_needs_a_database_says_so_and_a_static_site_cannot(client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    refused = client.post("/requests/new", data=_form(client, stack="static", needs_database="y"),
                          content_type="multipart/form-data")
    assert "tidak dapat memakai basis data" in refused.get_data(as_text=True)
    assert _count(HostingRequest) == 0
    filed = client.post("/requests/new", data=_form(client, needs_database="y"),
                        content_type="multipart/form-data")
    assert filed.status_code == 302
    assert db.session.scalar(select(HostingRequest)).needs_database
    assert "MariaDB, dibuat saat pemasangan" in client.get(filed.location).get_data(as_text=True)


def test_double_submit_files_one_request(client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    data = _form(client)
    first = client.post("/requests/new", data=data, content_type="multipart/form-data")
    again = dict(data, letter_surat_permohonan=(io.BytesIO(factories.MINIMAL_PDF), "surat.pdf"),
                 bundle=(io.BytesIO(BUNDLE), "simpeg.zip"))
    second = client.post("/requests/new", data=again, content_type="multipart/form-data")
    assert first.location == second.location
    assert _count(HostingRequest) == 1


def _sign_in(client, user) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/login", data={"username": user.username, "password": factories.PASSWORD,
                                           "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 302


def test_another_opd_posting_the_same_submission_key_files_its_own_request(app, client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    data = _form(client, contact="Andi, 0812-7777-0001", description="Rencana migrasi kepegawaian")
    first = client.post("/requests/new", data=data, content_type="multipart/form-data")
    filed_first = db.session.scalar(select(HostingRequest))
    before = (filed_first.number, filed_first.opd_id, filed_first.contact, filed_first.description,
              filed_first.subdomain, filed_first.submitted_by_id)

    other_admin = factories.user([RoleKey.OPD_ADMIN])
    db.session.commit()
    other = app.test_client()
    _sign_in(other, other_admin)
    stolen = dict(_form(other, subdomain="sipeda", app_name="Sistem Pendapatan", contact="Sari, 0813",
                        description="Pajak daerah"), submission_key=data["submission_key"])
    second = other.post("/requests/new", data=stolen, content_type="multipart/form-data")
    assert second.status_code == 302 and second.location != first.location
    page = other.get(second.location).get_data(as_text=True)
    assert "sipeda" in page
    for leaked in ("Andi, 0812-7777-0001", "Rencana migrasi kepegawaian", filed_first.number):
        assert leaked not in page
    filed = db.session.scalars(select(HostingRequest).order_by(HostingRequest.id)).all()
    assert len(filed) == 2 and filed[1].opd_id == other_admin.opd_id
    db.session.refresh(filed_first)
    assert (filed_first.number, filed_first.opd_id, filed_first.contact, filed_first.description,
            filed_first.subdomain, filed_first.submitted_by_id) == before


def test_a_sent_form_sent_again_with_other_content_is_refused_then_files_anew(client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    data = _form(client)
    client.post("/requests/new", data=data, content_type="multipart/form-data")
    filed = db.session.scalar(select(HostingRequest))
    edited = dict(data, subdomain="sipeda", bundle=(io.BytesIO(BUNDLE), "simpeg.zip"),
                  letter_surat_permohonan=(io.BytesIO(factories.MINIMAL_PDF), "s.pdf"))
    refused = client.post("/requests/new", data=edited, content_type="multipart/form-data")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "sudah dipakai untuk permohonan" in page and filed.number in page
    assert _count(HostingRequest) == 1
    db.session.refresh(filed)
    assert filed.subdomain == "simpeg"
    fresh = page.split('name="submission_key" type="hidden" value="')[1].split('"')[0]
    assert fresh != data["submission_key"]
    resent = dict(edited, submission_key=fresh, csrf_token=csrf_token(client, "/requests/new"),
                  letter_surat_permohonan=(io.BytesIO(factories.MINIMAL_PDF), "s.pdf"),
                  bundle=(io.BytesIO(BUNDLE), "simpeg.zip"))
    assert client.post("/requests/new", data=resent, content_type="multipart/form-data").status_code == 302
    assert _count(HostingRequest) == 2


def test_a_letter_that_is_not_a_pdf_is_refused_and_nothing_is_stored(app, client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    fake = (io.BytesIO(b"MZ\x90\x00 this is an executable"), "surat.pdf")
    response = client.post("/requests/new", data=_form(client, letter_surat_permohonan=fake),
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert "bukan PDF" in response.get_data(as_text=True)
    assert _count(HostingRequest) == 0 and _count(Artifact) == 0
    assert _files(Path(app.config["ARTIFACT_DIR"])) == []


def test_a_pdf_with_javascript_is_refused(client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    active = pdfs.letter(b"/OpenAction<</S/J#61vaScript/J#53(app.alert(1))>>")  # names hex-escaped
    response = client.post("/requests/new", data=_form(
        client, letter_surat_permohonan=(io.BytesIO(active), "surat.pdf")),
        content_type="multipart/form-data")
    assert "konten aktif" in response.get_data(as_text=True)
    assert _count(HostingRequest) == 0


def test_missing_required_letter_is_named(client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    data = _form(client)
    del data["letter_surat_permohonan"]
    response = client.post("/requests/new", data=data, content_type="multipart/form-data")
    assert "Lampiran wajib belum ada: Surat permohonan" in response.get_data(as_text=True)
    assert _count(HostingRequest) == 0


def test_reserved_and_invalid_subdomains_are_refused_with_a_reason(client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    for name in ("www", "Simpeg", "sim_peg", "-simpeg", "a" * 64, "kominfo-palsu"):
        response = client.post("/requests/new", data=_form(client, subdomain=name),
                               content_type="multipart/form-data")
        assert response.status_code == 200 and "Sub-domain:" in response.get_data(as_text=True), name
    assert _count(HostingRequest) == 0


def test_oversized_bundle_is_refused_while_streaming(app, client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    huge = (io.BytesIO(b"x" * (256 * 1024)), "besar.zip")
    response = client.post("/requests/new", data=_form(client, bundle=huge),
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert _count(HostingRequest) == 0 and _files(Path(app.config["ARTIFACT_DIR"])) == []


def test_bundle_over_the_bundle_limit_is_refused_and_not_kept(app, client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    app.config["BUNDLE_MAX_BYTES"] = 1024
    response = client.post("/requests/new", data=_form(client, bundle=(io.BytesIO(b"y" * 4096), "b.zip")),
                           content_type="multipart/form-data")
    assert "melebihi batas" in response.get_data(as_text=True)
    assert _count(HostingRequest) == 0 and _files(Path(app.config["ARTIFACT_DIR"])) == []


def test_an_opd_admin_sees_only_their_own_agency_requests(client, login_as) -> None:
    admin = login_as(RoleKey.OPD_ADMIN)
    own = factories.hosting_request(owner=admin.opd)
    other = factories.hosting_request()
    db.session.commit()
    listing = client.get("/requests").get_data(as_text=True)
    assert own.number in listing and other.number not in listing
    assert client.get(f"/requests/{other.id}").status_code == 404
    assert client.get(f"/requests/{other.id}/attachments/{other.attachments[0].id}").status_code == 404
    assert client.get(f"/requests/{own.id}/attachments/{own.attachments[0].id}").data == factories.MINIMAL_PDF


def test_steps_are_acted_on_through_the_ui(client, login_as) -> None:
    filed = factories.hosting_request()
    db.session.commit()
    login_as(RoleKey.HEAD)
    token = csrf_token(client, f"/requests/{filed.id}")
    client.post(f"/requests/{filed.id}/act", data={"csrf_token": token, "note": "Teruskan"})
    client.post(f"/requests/{filed.id}/dispose", data={
        "csrf_token": token, "to_role": "coordinator", "note": "Mohon ditelaah"})
    db.session.refresh(filed)
    assert filed.current_step == "telaah_koordinasi" and len(filed.dispositions) == 1
    page = client.get(f"/requests/{filed.id}").get_data(as_text=True)
    assert "Mohon ditelaah" in page and "Teruskan" in page
