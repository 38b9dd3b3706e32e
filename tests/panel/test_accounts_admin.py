"""Administrasi → Pengguna and OPD: the platform administrator keeps the directory, bad input included."""
from __future__ import annotations

import io
import json
import re
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import ApiToken, AuditEvent, LoginThrottle, Opd, RecoveryCode, RoleKey, User
from panel.services.accounts import directory, login_throttle, totp
from tests.panel import factories
from tests.panel.conftest import csrf_token

VALID_NIP = "198503152010012003"  # born 15 March 1985, appointed January 2010, female, number 003


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _events(action: str, target: User | None = None) -> list[AuditEvent]:
    where = [AuditEvent.action == action]
    if target is not None:
        where.append(AuditEvent.target_id == str(target.id))
    return list(db.session.scalars(select(AuditEvent).where(*where)))


def _audit_text() -> str:
    return json.dumps([[e.action, e.actor, e.details] for e in db.session.scalars(select(AuditEvent))])


def _post(client: FlaskClient, path: str, form_page: str, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **data})


def _add_user(client: FlaskClient, **overrides: Any) -> Any:
    data = {"username": "budi.santoso", "full_name": "Budi Santoso", "nip": VALID_NIP,
            "email": "budi@dinkes.contoh.go.id", "opd": "DINKES", "roles": ["opd_admin"], **overrides}
    return _post(client, "/admin/users", "/admin/users", **data)


def _request_form(client: FlaskClient) -> dict[str, Any]:
    # The hosting request form as an OPD administrator fills it in, with its letter and bundle.
    page = client.get("/requests/new").get_data(as_text=True)
    key = page.split('name="submission_key" type="hidden" value="')[1].split('"')[0]
    return {"csrf_token": csrf_token(client, "/requests/new"), "submission_key": key,
            "app_name": "Sistem Informasi Puskesmas", "subdomain": "simpus", "stack": "php",
            "description": "Aplikasi puskesmas", "contact": "Budi, 0812",
            "letter_surat_permohonan": (io.BytesIO(factories.MINIMAL_PDF), "surat.pdf"),
            "bundle": (io.BytesIO(b"PK\x05\x06" + b"\0" * 18), "simpus.zip")}


def _sign_in(app: Any, username: str, password: str) -> Any:
    other = app.test_client()
    return other, other.post("/login", data={"username": username, "password": password,
                                             "csrf_token": csrf_token(other, "/login")})


@pytest.fixture
def dinkes() -> Opd:
    made = factories.opd(code="DINKES", name="Dinas Kesehatan")
    db.session.commit()
    return made


# --- adding -------------------------------------------------------------------------------------


def test_superadmin_adds_a_user_whose_one_time_password_is_shown_once(app, client, login_as, dinkes) -> None:
    admin = login_as(RoleKey.SUPERADMIN)
    response = _add_user(client)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r'<code class="secret">([^<]+)</code>', page).group(1)
    made = db.session.scalar(select(User).where(User.username == "budi.santoso"))
    assert (made.full_name, made.nip, made.email, made.opd.code, sorted(made.role_keys),
            made.must_change_password) == ("Budi Santoso", VALID_NIP, "budi@dinkes.contoh.go.id", "DINKES",
                                           ["opd_admin"], True)
    [created] = _events("user.create", made)
    [profile] = _events("user.profile", made)
    assert created.actor == profile.actor == admin.username
    assert profile.details["nip"] == VALID_NIP and profile.details["opd"] == "DINKES"
    assert password not in _audit_text()
    assert password not in client.get(f"/admin/users/{made.id}").get_data(as_text=True)
    assert "budi.santoso" in client.get("/admin/users").get_data(as_text=True)
    # The one-time password signs in, and the first thing asked is a new one.
    other, signed_in = _sign_in(app, "budi.santoso", password)
    assert signed_in.status_code == 302
    assert other.get("/").location.endswith("/account/password")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"username": "admin.lain"}, "sudah dipakai"),
    ({"username": "Budi Santoso"}, "tidak sah"),
    ({"roles": ["kepala_dinas"]}, "tidak dikenal"),
    ({"roles": ["app_account"]}, "tidak dikenal"),
    ({"roles": []}, "sedikitnya satu peran"),
    ({"opd": "TIDAKADA"}, "tidak dikenal"),
    ({"opd": ""}, "harus terikat pada satu OPD"),
    ({"email": "budi@"}, "surel"),
    ({"email": "budi santoso@contoh.go.id"}, "surel"),
    ({"nip": "1985031520100120"}, "18 angka"),
    ({"nip": "19850315201001200X"}, "18 angka"),
    ({"nip": "198502302010012003"}, "tanggal lahir"),  # 30 February
    ({"nip": "198503152010013003"}, "tidak sah"),  # sex digit 3
    ({"nip": "198503151980012003"}, "tidak sah"),  # appointed in 1980, before being born in 1985
])
def test_bad_new_users_are_refused_and_nothing_is_written(client, login_as, dinkes, overrides,
                                                          message) -> None:
    login_as(RoleKey.SUPERADMIN)
    factories.user([RoleKey.TECHNICIAN], username="admin.lain")
    db.session.commit()
    users_before, events_before = _count(User), _count(AuditEvent)
    response = _add_user(client, **overrides)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page, page
    assert "budi@dinkes.contoh.go.id" in page or "email" in overrides  # what was typed is kept
    assert _count(User) == users_before and _count(AuditEvent) == events_before


def test_a_nip_belongs_to_one_person(client, login_as, dinkes) -> None:
    login_as(RoleKey.SUPERADMIN)
    factories.user([RoleKey.TECHNICIAN], username="pemilik").nip = VALID_NIP
    db.session.commit()
    page = _add_user(client).get_data(as_text=True)
    assert "sudah dipakai pengguna pemilik" in page
    assert _count(User, User.username == "budi.santoso") == 0


def test_a_nip_may_be_typed_with_spaces(client, login_as, dinkes) -> None:
    login_as(RoleKey.SUPERADMIN)
    _add_user(client, nip="19850315 201001 2 003")
    assert db.session.scalar(select(User.nip).where(User.username == "budi.santoso")) == VALID_NIP


def test_another_role_cannot_add_a_superadmin(app, client, login_as) -> None:
    login_as(RoleKey.TECHNICIAN)
    token = csrf_token(client, "/account/password")
    response = client.post("/admin/users", data={"csrf_token": token, "username": "penyusup",
                                                 "roles": ["superadmin"]})
    assert response.status_code == 403
    assert _count(User, User.username == "penyusup") == 0
    assert not _events("user.profile")


# --- editing ------------------------------------------------------------------------------------


def test_superadmin_edits_a_user_and_the_change_is_audited(app, client, login_as, dinkes) -> None:
    login_as(RoleKey.SUPERADMIN)
    someone = factories.user([RoleKey.TECHNICIAN], full_name="Lama")
    db.session.commit()
    other, _signed_in = _sign_in(app, someone.username, factories.PASSWORD)
    response = _post(client, f"/admin/users/{someone.id}", f"/admin/users/{someone.id}",
                     full_name="Siti Aminah", nip=VALID_NIP, email="siti@contoh.go.id", opd="DINKES",
                     roles=["technician", "coordinator"])
    assert response.status_code == 302
    db.session.refresh(someone)
    assert (someone.full_name, someone.nip, someone.email, someone.opd.code) == (
        "Siti Aminah", VALID_NIP, "siti@contoh.go.id", "DINKES")
    assert someone.role_keys == {"technician", "coordinator"}
    [edit] = _events("user.edit")
    assert edit.details["changes"]["roles"] == {"before": ["technician"],
                                                "after": ["coordinator", "technician"]}
    assert edit.details["changes"]["full_name"] == {"before": "Lama", "after": "Siti Aminah"}
    # New roles, new session: the one signed in before is over.
    assert other.get("/").status_code == 302


def test_bad_edits_change_nothing(client, login_as, dinkes) -> None:
    login_as(RoleKey.SUPERADMIN)
    someone = factories.user([RoleKey.TECHNICIAN], full_name="Tetap", email="tetap@contoh.go.id")
    db.session.commit()
    for bad in ({"email": "bukan-surel"}, {"nip": "123"}, {"roles": ["raja"]}, {"opd": "ENTAH"}):
        data = {"full_name": "Berubah", "email": "tetap@contoh.go.id", "roles": ["technician"], **bad}
        response = _post(client, f"/admin/users/{someone.id}", f"/admin/users/{someone.id}", **data)
        assert response.status_code == 200 and "flash-error" in response.get_data(as_text=True)
    db.session.expire_all()
    assert (someone.full_name, someone.email, someone.role_keys) == ("Tetap", "tetap@contoh.go.id",
                                                                      {"technician"})
    assert not _events("user.edit")


def test_a_superadmin_cannot_take_away_their_own_role(client, login_as) -> None:
    admin = login_as(RoleKey.SUPERADMIN)
    factories.user([RoleKey.SUPERADMIN])  # not the last one: the refusal is about oneself
    db.session.commit()
    response = _post(client, f"/admin/users/{admin.id}", f"/admin/users/{admin.id}", roles=["technician"])
    assert "sendiri" in response.get_data(as_text=True)
    db.session.expire_all()
    assert admin.has_role(RoleKey.SUPERADMIN)


# --- disabling ----------------------------------------------------------------------------------


def test_disabling_a_user_ends_their_sessions_and_tokens(app, client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    someone = factories.user([RoleKey.TECHNICIAN])
    _token, secret = factories.api_token(someone)
    db.session.commit()
    other, _signed_in = _sign_in(app, someone.username, factories.PASSWORD)
    response = _post(client, f"/admin/users/{someone.id}/disable", f"/admin/users/{someone.id}")
    assert response.status_code == 302
    db.session.expire_all()
    assert not someone.active
    assert other.get("/").status_code == 302  # sent to sign in
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 401
    assert _sign_in(app, someone.username, factories.PASSWORD)[1].status_code == 401  # refused
    assert _events("user.deactivate", someone)
    # And back again.
    _post(client, f"/admin/users/{someone.id}/enable", f"/admin/users/{someone.id}")
    db.session.expire_all()
    assert someone.active and _events("user.activate")


def test_a_superadmin_cannot_disable_themselves(client, login_as) -> None:
    admin = login_as(RoleKey.SUPERADMIN)
    factories.user([RoleKey.SUPERADMIN])
    db.session.commit()
    response = _post(client, f"/admin/users/{admin.id}/disable", f"/admin/users/{admin.id}")
    assert "akun Anda sendiri" in client.get(response.location).get_data(as_text=True)
    db.session.expire_all()
    assert admin.active and not _events("user.deactivate")


def test_the_last_active_superadmin_is_never_disabled(app, login_as) -> None:
    only = factories.user([RoleKey.SUPERADMIN], username="satu-satunya")
    db.session.commit()
    with pytest.raises(directory.DirectoryRefused, match="aktif terakhir"):
        directory.disable_user(only, by=None)
    with pytest.raises(directory.DirectoryRefused, match="aktif terakhir"):
        directory.edit_user(only, directory.Profile(roles=("technician",)), by=None)
    db.session.rollback()
    assert only.active and only.has_role(RoleKey.SUPERADMIN)
    # A disabled superadmin does not count: the second one is then the last.
    second = factories.user([RoleKey.SUPERADMIN])
    directory.disable_user(only, by=second)
    with pytest.raises(directory.DirectoryRefused, match="aktif terakhir"):
        directory.disable_user(second, by=None)


def test_an_app_web_panel_login_is_not_managed_here(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    login = factories.app_account(factories.app())
    db.session.commit()
    assert client.get(f"/admin/users/{login.id}").status_code == 404
    assert login.username not in client.get("/admin/users").get_data(as_text=True)


# --- resets -------------------------------------------------------------------------------------


def test_password_reset_shows_a_new_one_time_password_and_ends_everything(app, client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    someone = factories.user([RoleKey.TECHNICIAN])
    factories.api_token(someone)
    db.session.commit()
    other, _signed_in = _sign_in(app, someone.username, factories.PASSWORD)
    response = _post(client, f"/admin/users/{someone.id}/password", f"/admin/users/{someone.id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r'<code class="secret">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    db.session.expire_all()
    assert someone.must_change_password
    assert other.get("/").status_code == 302
    assert _count(ApiToken, ApiToken.user_id == someone.id, ApiToken.revoked_at.is_(None)) == 0
    assert _sign_in(app, someone.username, factories.PASSWORD)[1].status_code == 401  # the old one is gone
    fresh, signed_in = _sign_in(app, someone.username, password)
    assert signed_in.status_code == 302 and fresh.get("/").location.endswith("/account/password")
    [reset] = _events("user.password_reset")
    assert reset.details == {"one_time": True, "revoked": 1} and password not in _audit_text()


def test_unlock_clears_the_throttle_on_the_account(app, client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    someone = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    stranger = app.test_client()
    for _attempt in range(app.config["LOGIN_FREE_ATTEMPTS"] + 2):
        stranger.post("/login", data={"username": someone.username, "password": "salah-salah-salah",
                                      "csrf_token": csrf_token(stranger, "/login")})
    policy = login_throttle.Policy.from_config(app.config)
    assert login_throttle.waiting(someone.username, "127.0.0.1", policy) is not None
    page = client.get(f"/admin/users/{someone.id}").get_data(as_text=True)
    assert "ditahan sampai" in page
    _post(client, f"/admin/users/{someone.id}/unlock", f"/admin/users/{someone.id}")
    db.session.expire_all()
    assert _count(LoginThrottle, LoginThrottle.account == someone.username) == 0
    assert _sign_in(app, someone.username, factories.PASSWORD)[1].status_code == 302
    [unlocked] = _events("user.unlock")
    assert unlocked.details["buckets"] >= 2


def test_second_factor_reset_switches_it_off_and_forgets_the_recovery_codes(app, client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    someone = factories.user([RoleKey.TECHNICIAN])
    secret = totp.new_secret()
    totp.enable(someone, secret, pyotp.TOTP(secret).now())
    db.session.commit()
    assert _count(RecoveryCode, RecoveryCode.user_id == someone.id) > 0
    _post(client, f"/admin/users/{someone.id}/totp", f"/admin/users/{someone.id}")
    db.session.expire_all()
    assert not someone.totp_enabled and someone.totp_last_step is None
    assert _count(RecoveryCode, RecoveryCode.user_id == someone.id) == 0
    assert _events("user.totp_reset") and secret not in _audit_text()
    # Nothing left to reset: a clear refusal, nothing recorded.
    response = _post(client, f"/admin/users/{someone.id}/totp", f"/admin/users/{someone.id}")
    assert "tidak memakai verifikasi dua langkah" in client.get(response.location).get_data(as_text=True)
    assert len(_events("user.totp_reset")) == 1


# --- OPD ----------------------------------------------------------------------------------------


def test_superadmin_adds_and_renames_an_opd(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _post(client, "/admin/opds", "/admin/opds", code="dispar", name="Dinas  Pariwisata")
    assert response.status_code == 302
    opd = db.session.scalar(select(Opd).where(Opd.code == "DISPAR"))
    assert opd.name == "Dinas Pariwisata"
    _post(client, f"/admin/opds/{opd.id}", "/admin/opds", name="Dinas Pariwisata dan Kebudayaan")
    db.session.expire_all()
    assert opd.name == "Dinas Pariwisata dan Kebudayaan"
    [created] = _events("opd.create")
    [renamed] = _events("opd.rename")
    assert created.details == {"code": "DISPAR", "name": "Dinas Pariwisata"}
    assert renamed.details == {"before": "Dinas Pariwisata", "after": "Dinas Pariwisata dan Kebudayaan"}
    assert "DISPAR" in client.get("/admin/opds").get_data(as_text=True)


@pytest.mark.parametrize(("code", "name", "message"), [
    ("dinkes", "Dinas Kesehatan Lagi", "sudah terdaftar"),
    ("DIN KES", "Dinas", "tidak sah"),
    ("DINAS*", "Dinas", "tidak sah"),
    ("X" * 33, "Dinas", "Kode OPD"),
])
def test_bad_opds_are_refused(client, login_as, dinkes, code, name, message) -> None:
    login_as(RoleKey.SUPERADMIN)
    before = _count(Opd)
    page = _post(client, "/admin/opds", "/admin/opds", code=code, name=name).get_data(as_text=True)
    assert message in page
    assert _count(Opd) == before and not _events("opd.create")


def test_an_opd_keeps_a_name(client, login_as, dinkes) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _post(client, f"/admin/opds/{dinkes.id}", "/admin/opds", name="   ")
    assert "wajib diisi" in client.get(response.location).get_data(as_text=True)
    db.session.expire_all()
    assert dinkes.name == "Dinas Kesehatan" and not _events("opd.rename")


def test_a_disabled_opd_files_no_request_and_takes_no_new_user(app, client, login_as, dinkes) -> None:
    from panel.models import HostingRequest

    login_as(RoleKey.SUPERADMIN)
    member = factories.user([RoleKey.OPD_ADMIN], opd=dinkes, email="lama@dinkes.contoh.go.id")
    db.session.commit()
    assert _post(client, f"/admin/opds/{dinkes.id}/disable", "/admin/opds").status_code == 302
    db.session.expire_all()
    assert not dinkes.active and _events("opd.deactivate")
    # No new user for it; its own member may still be edited.
    assert "nonaktif" in _add_user(client).get_data(as_text=True)
    assert _count(User, User.username == "budi.santoso") == 0
    edited = _post(client, f"/admin/users/{member.id}", f"/admin/users/{member.id}", opd="DINKES",
                   roles=["opd_admin"], email="baru@dinkes.contoh.go.id")
    assert edited.status_code == 302
    # Its administrator files nothing.
    opd_admin_client, _signed_in = _sign_in(app, member.username, factories.PASSWORD)
    refused = opd_admin_client.post("/requests/new", data=_request_form(opd_admin_client),
                                    content_type="multipart/form-data")
    assert "dinonaktifkan" in refused.get_data(as_text=True)
    assert _count(HostingRequest) == 0
    # Enabled again, it files as before.
    _post(client, f"/admin/opds/{dinkes.id}/enable", "/admin/opds")
    filed = opd_admin_client.post("/requests/new", data=_request_form(opd_admin_client),
                                  content_type="multipart/form-data")
    assert filed.status_code == 302 and _count(HostingRequest) == 1
    assert _events("opd.activate")
