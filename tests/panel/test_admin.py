"""Administration through the UI: hosts, DNS zones, IP pools and SOP template versions, bad input included."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from panel import gateway
from panel.extensions import db
from panel.models import (
    AuditEvent,
    Host,
    HostStatus,
    IpAllocation,
    IpPool,
    Job,
    JobStatus,
    RoleKey,
    SopTemplateVersion,
    Zone,
)
from panel.models.base import utcnow
from panel.services.requests import workflow
from tests.panel import factories
from tests.panel.agent import free_port, running_agent
from tests.panel.conftest import csrf_token

SECRET = "c3VwZXItcmFoYXNpYS10c2lnLXBlbWRhLWNvbnRvaA=="  # base64, never to be seen again


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _audit_text() -> str:
    return json.dumps([event.details for event in db.session.scalars(select(AuditEvent))])


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _post(client: FlaskClient, path: str, form_page: str, **data: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **data})


# --- hosts -------------------------------------------------------------------------------------


def _add_host(client: FlaskClient, **overrides: Any) -> Any:
    data = {"name": "dc-node-02", "address": "127.0.0.1", "port": "17443", **overrides}
    return _post(client, "/admin/hosts", "/admin/hosts", **data)


def test_superadmin_adds_a_host_and_sees_its_enrolment_command_once(app, client, login_as, agents) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _add_host(client)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    token = re.search(r"WADAH_AGENT_TOKEN=(wdh1\.[\w.-]+)", page)
    assert token, page
    assert f"--ca-sha256 {agents.ca.ca_sha256}" in page
    host = db.session.scalar(select(Host))
    assert (host.name, host.status, host.agent_url) == ("dc-node-02", HostStatus.PENDING,
                                                        "https://127.0.0.1:17443")
    [event] = _events("host.add")
    assert event.details == {"address": "127.0.0.1", "port": 17443}
    assert token.group(1) not in _audit_text()
    assert token.group(1) not in client.get("/admin/hosts").get_data(as_text=True)


def test_a_host_name_taken_already_is_refused(client, login_as, agents) -> None:
    login_as(RoleKey.SUPERADMIN)
    _add_host(client)
    again = _add_host(client, address="127.0.0.2")
    assert "sudah terdaftar" in again.get_data(as_text=True)
    assert "WADAH_AGENT_TOKEN" not in again.get_data(as_text=True)
    assert _count(Host) == 1


def test_a_panel_without_its_ca_refuses_a_host_and_makes_no_ca(app, client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    page = _add_host(client).get_data(as_text=True)
    assert "belum memiliki CA" in page and "WADAH_AGENT_TOKEN" not in page
    assert db.session.scalar(select(Host)) is None and _events("host.add") == []
    assert not gateway.agents(app).has_ca() and not (Path(app.instance_path) / "ca").exists()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": "Node_2"}, "Nama host tidak sah"),
    ({"name": "bad.name"}, "Nama host tidak sah"),
    ({"address": "bukan alamat!"}, "Alamat agen tidak sah"),
    ({"port": "70000"}, "Port agen tidak sah"),
    ({"port": "dua"}, "Harus berupa bilangan bulat"),
    ({"name": ""}, "Wajib diisi"),
])
def test_bad_host_input_is_refused(client, login_as, overrides: dict[str, str], message: str) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _add_host(client, **overrides)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert _count(Host) == 0


def test_host_list_shows_facts_and_health(client, login_as) -> None:
    factories.host(name="node-sehat", status=HostStatus.ONLINE, cert_fingerprint="ab:cd",
                   last_seen_at=utcnow(), facts={
                       "cpus": 8, "load_average": [0.5, 0.4, 0.3], "memory_total_bytes": 16 * 2**30,
                       "memory_available_bytes": 10 * 2**30, "apps_total": 3, "apps_running": ["a", "b"],
                       "disk": {"/var/lib/docker": {"total_bytes": 100 * 2**30, "free_bytes": 60 * 2**30}},
                       "docker_version": "20.10.24", "nginx_version": "1.22.1", "memory_committed_mb": 768})
    factories.host(name="node-lama", status=HostStatus.ONLINE, cert_fingerprint="ef:01",
                   last_seen_at=utcnow() - timedelta(hours=1), facts={"memory_available_bytes": 2**33})
    factories.host(name="node-baru")
    login_as(RoleKey.TECHNICIAN)  # technicians read the hosts they deploy onto
    page = client.get("/admin/hosts").get_data(as_text=True)
    assert "node-sehat" in page and "10.0 GiB bebas dari 16.0 GiB" in page and "2 berjalan dari 3" in page
    assert "60.0 GiB bebas dari 100.0 GiB" in page and "Docker 20.10.24" in page and "Sehat" in page
    assert "Fakta usang" in page and "Menunggu pendaftaran agen" in page
    assert "Tambah host" not in page and "Perbarui fakta" not in page  # reading only


def test_a_host_whose_app_network_rules_failed_is_not_healthy(client, login_as) -> None:
    facts = {"memory_available_bytes": 2**33, "app_network": {
        "managed": True, "installed": False, "error": "tidak dapat menjalankan iptables"}}
    factories.host(name="node-terbuka", status=HostStatus.ONLINE, cert_fingerprint="ab:cd",
                   last_seen_at=utcnow(), facts=facts)
    login_as(RoleKey.TECHNICIAN)
    page = client.get("/admin/hosts").get_data(as_text=True)
    assert "Isolasi jaringan aplikasi tidak terpasang: tidak dapat menjalankan iptables" in page
    assert "Sehat" not in page


def test_refresh_of_a_host_whose_agent_has_not_enrolled_is_refused(client, login_as) -> None:
    host = factories.host()
    login_as(RoleKey.SUPERADMIN)
    response = _post(client, f"/admin/hosts/{host.id}/refresh", "/admin/hosts")
    assert response.status_code == 302
    assert "belum mendaftar" in client.get("/admin/hosts").get_data(as_text=True)
    assert _count(Job) == 0


def test_refresh_runs_as_a_job_and_records_an_unreachable_agent(client, login_as, agents) -> None:
    host = factories.host(status=HostStatus.ONLINE, cert_fingerprint="ab:cd",
                          agent_url=f"https://127.0.0.1:{free_port()}")
    login_as(RoleKey.SUPERADMIN)
    response = _post(client, f"/admin/hosts/{host.id}/refresh", "/admin/hosts")
    assert response.status_code == 302 and response.location.endswith("/admin/hosts")
    db.session.expire_all()
    job = db.session.scalar(select(Job))
    assert (job.kind, job.target_id, job.status) == ("refresh_host", str(host.id), JobStatus.FAILED)
    assert "tidak dapat dihubungi" in job.error
    assert db.session.get(Host, host.id).status == HostStatus.UNREACHABLE
    assert [e.target_id for e in _events("host.refresh")] == [str(host.id)]
    page = client.get("/admin/hosts").get_data(as_text=True)
    assert "Agen tidak dapat dihubungi" in page and "Pembaruan fakta: Gagal" in page


def test_a_second_refresh_waits_for_the_first(client, login_as) -> None:
    host = factories.host(status=HostStatus.ONLINE, cert_fingerprint="ab:cd")
    db.session.add(Job(kind="refresh_host", target_type="Host", target_id=str(host.id)))
    db.session.commit()
    login_as(RoleKey.SUPERADMIN)
    _post(client, f"/admin/hosts/{host.id}/refresh", "/admin/hosts")
    assert _count(Job) == 1 and _events("host.refresh") == []


def test_refresh_records_the_facts_a_real_agent_reports(app, client, login_as, testbed, tmp_path) -> None:
    agents = gateway.agents(app)
    with running_agent(agents, "node-uji", testbed, tmp_path) as host:
        db.session.commit()
        login_as(RoleKey.SUPERADMIN)
        _post(client, f"/admin/hosts/{host.id}/refresh", "/admin/hosts")
    db.session.expire_all()
    job = db.session.scalar(select(Job))
    assert job.status == JobStatus.SUCCEEDED, job.error
    refreshed = db.session.get(Host, host.id)
    assert refreshed.facts["cpus"] >= 1 and refreshed.facts["memory_total_bytes"] > 0
    assert "Pembaruan fakta: Fakta node-uji diperbarui" in client.get("/admin/hosts").get_data(as_text=True)


def test_a_new_token_for_a_host_not_yet_enrolled(app, client, login_as, agents) -> None:
    host = factories.host()
    login_as(RoleKey.SUPERADMIN)
    response = _post(client, f"/admin/hosts/{host.id}/token", "/admin/hosts")
    page = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store" and "WADAH_AGENT_TOKEN=wdh1." in page
    assert [e.target_id for e in _events("host.reissue_token")] == [str(host.id)]
    host.cert_fingerprint = "ab:cd"
    db.session.commit()
    refused = _post(client, f"/admin/hosts/{host.id}/token", "/admin/hosts")
    assert refused.status_code == 302 and "WADAH_AGENT_TOKEN" not in refused.get_data(as_text=True)


# --- zones -------------------------------------------------------------------------------------


def _zone_form(**overrides: Any) -> dict[str, Any]:
    return {"name": "Contoh.go.id.", "primary_server": "127.0.0.1:15353", "tsig_key_name": "wadah-update",
            "tsig_algorithm": "hmac-sha256", "tsig_secret": SECRET, "record_ip": "127.0.0.1", "ttl": "300",
            **overrides}


def _add_zone(client: FlaskClient, **overrides: Any) -> Any:
    return _post(client, "/admin/zones", "/admin/zones", **_zone_form(**overrides))


def test_superadmin_adds_a_zone_whose_secret_is_never_shown_again(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _add_zone(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    zone = db.session.scalar(select(Zone))
    assert (zone.name, zone.primary_server, zone.ttl) == ("contoh.go.id", "127.0.0.1:15353", 300)
    assert zone.tsig_secret == SECRET  # decrypted on load
    stored = db.session.execute(text("SELECT tsig_secret FROM zones")).scalar_one()
    assert SECRET not in stored
    bodies = [client.get(path).get_data(as_text=True)
              for path in (response.location, "/admin/zones", "/admin/hosts")]
    assert "contoh.go.id" in bodies[0] and "tersimpan terenkripsi" in bodies[0]
    assert all(SECRET not in body for body in bodies)
    [event] = _events("zone.add")
    assert event.details["tsig_name"] == "wadah-update" and SECRET not in _audit_text()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": "bukan zona!"}, "Nama zona tidak sah"),
    ({"name": "localhost"}, "Nama zona tidak sah"),
    ({"primary_server": "ns1.contoh.go.id:53"}, "harus berupa alamat IP"),
    ({"primary_server": "127.0.0.1:port"}, "Server DNS tidak sah"),
    ({"tsig_secret": "bukan base64!"}, "bukan base64"),
    ({"tsig_key_name": "kunci rahasia"}, "Nama kunci TSIG tidak sah"),
    ({"tsig_algorithm": "hmac-md5"}, "Pilihan tidak dikenal"),
    ({"record_ip": "999.1.1.1"}, "bukan alamat IP yang sah"),
    ({"ttl": "5"}, "TTL harus antara"),
])
def test_bad_zone_input_is_refused(client, login_as, overrides: dict[str, str], message: str) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _add_zone(client, **overrides)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert _count(Zone) == 0 and SECRET not in page


def test_a_zone_sent_twice_is_registered_once(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    _add_zone(client)
    again = _add_zone(client, name="contoh.go.id")
    assert "sudah terdaftar" in again.get_data(as_text=True) and _count(Zone) == 1


def test_zone_test_runs_as_a_job_and_shows_an_unreachable_server(client, login_as) -> None:
    zone = factories.zone()
    login_as(RoleKey.SUPERADMIN)
    response = _post(client, f"/admin/zones/{zone.id}/probe", f"/admin/zones/{zone.id}")
    assert response.status_code == 302
    job = db.session.scalar(select(Job))
    assert (job.kind, job.status) == ("probe_zone", JobStatus.FAILED)
    page = client.get(response.location).get_data(as_text=True)
    assert "tidak dapat dihubungi" in page and factories.ZONE_SECRET not in page
    assert [e.target_id for e in _events("zone.probe")] == [str(zone.id)]


def test_zone_test_against_the_real_primary(client, login_as, dns_zone: dict[str, Any]) -> None:
    zone = factories.zone(name=dns_zone["zone"], primary_server=f"{dns_zone['host']}:{dns_zone['port']}",
                          tsig_key_name=dns_zone["key_name"], tsig_secret=dns_zone["secret"],
                          tsig_algorithm=dns_zone["algorithm"])
    db.session.commit()
    login_as(RoleKey.SUPERADMIN)
    response = _post(client, f"/admin/zones/{zone.id}/probe", f"/admin/zones/{zone.id}")
    job = db.session.scalar(select(Job))
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["serial"] > 0
    page = client.get(response.location).get_data(as_text=True)
    assert "serial SOA" in page and dns_zone["secret"] not in page


def test_technician_reads_zones_but_cannot_add_or_test(client, login_as) -> None:
    zone = factories.zone()
    db.session.commit()
    login_as(RoleKey.TECHNICIAN)
    page = client.get(f"/admin/zones/{zone.id}").get_data(as_text=True)
    assert zone.name in page and ">Uji</button>" not in page
    assert "Tambah zona" not in client.get("/admin/zones").get_data(as_text=True)


# --- IP pools ----------------------------------------------------------------------------------


def _add_pool(client: FlaskClient, **overrides: Any) -> Any:
    data = {"name": "dmz", "network": "127.42.0.0/24", "first": "127.42.0.10", "last": "127.42.0.20",
            **overrides}
    return _post(client, "/admin/pools", "/admin/pools", **data)


def test_superadmin_adds_a_pool_and_sees_used_and_free_counts(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _add_pool(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    pool = db.session.scalar(select(IpPool))
    db.session.add(IpAllocation(pool_id=pool.id, address="127.42.0.10"))
    db.session.commit()
    page = client.get("/admin/pools").get_data(as_text=True)
    assert "127.42.0.10" in page and "<td>1</td>" in page and "10 dari 11" in page
    [event] = _events("pool.add")
    assert event.details == {"name": "dmz", "network": "127.42.0.0/24", "first": "127.42.0.10",
                             "last": "127.42.0.20"}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"network": "127.42.0.0/33"}, "bukan CIDR yang sah"),
    ({"network": "jaringan-kantor"}, "bukan CIDR yang sah"),
    ({"network": "127.42.0.5/24"}, "bukan CIDR yang sah"),  # host bits set
    ({"first": "127.43.0.10"}, "berada di luar jaringan"),
    ({"last": "10.0.0.1"}, "berada di luar jaringan"),
    ({"first": "::1", "last": "::2"}, "berada di luar jaringan"),
    ({"first": "127.42.0.0"}, "alamat jaringan atau broadcast"),
    ({"first": "127.42.0.30"}, "harus sebelum alamat terakhir"),
    ({"first": "127.42.0.x"}, "bukan alamat IP yang sah"),
    ({"name": "Pool Utama"}, "Nama pool tidak sah"),
])
def test_bad_pool_input_is_refused(client, login_as, overrides: dict[str, str], message: str) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = _add_pool(client, **overrides)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert _count(IpPool) == 0


def test_a_pool_overlapping_another_is_refused(client, login_as) -> None:
    factories.pool(name="lama", network="127.42.0.0/24", first="127.42.0.15", last="127.42.0.40")
    login_as(RoleKey.SUPERADMIN)
    response = _add_pool(client)
    assert "bertumpang tindih dengan pool lama (127.42.0.15–127.42.0.40)" in response.get_data(as_text=True)
    beside = _add_pool(client, name="baru", first="127.42.0.41", last="127.42.0.50")
    assert beside.status_code == 302 and _count(IpPool) == 2  # one subnet, two ranges side by side


def test_a_pool_sent_twice_is_registered_once(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    _add_pool(client)
    again = _add_pool(client)
    assert "Pool dmz sudah terdaftar" in again.get_data(as_text=True) and _count(IpPool) == 1


# --- SOP templates -----------------------------------------------------------------------------


def _sop_form(client: FlaskClient, key: str = "muara_enim", **changes: dict[str, Any]) -> dict[str, Any]:
    """The edit form of the template's newest version as the page fills it, with `changes` by step key."""
    token = csrf_token(client, f"/admin/sop/{key}")
    version = workflow.latest_version(key)
    data: dict[str, Any] = {"csrf_token": token, "base_version": str(version.version)}
    for index, raw in enumerate(version.definition["steps"]):
        fields = {"key": raw["key"], "role": raw["role"], "waktu_menit": raw.get("waktu_menit", ""),
                  "output": raw.get("output", ""), **changes.get(raw["key"], {})}
        data.update({f"steps-{index}-{name}": value for name, value in fields.items()})
    return data


def _versions(key: str = "muara_enim") -> list[int]:
    return list(db.session.scalars(select(SopTemplateVersion.version).where(SopTemplateVersion.key == key)
                                   .order_by(SopTemplateVersion.version)))


def test_superadmin_lists_the_templates_at_their_newest_version(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    page = client.get("/admin/sop").get_data(as_text=True)
    assert "Permohonan Sub Domain dan Hosting Aplikasi (Muara Enim)" in page and "batam" in page
    edit = client.get("/admin/sop/muara_enim").get_data(as_text=True)
    assert "Menerima surat permohonan" in edit and 'value="5"' in edit


def test_an_unknown_template_is_not_found(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    assert client.get("/admin/sop/tidak_ada").status_code == 404


def test_an_edit_is_a_new_version_and_filed_requests_keep_theirs(client, login_as) -> None:
    before = factories.hosting_request()
    admin = login_as(RoleKey.SUPERADMIN)
    response = client.post("/admin/sop/muara_enim", data=_sop_form(
        client, terima_permohonan={"waktu_menit": "20", "role": "coordinator"},
        telaah_koordinasi={"waktu_menit": "30"},
        unggah_aplikasi={"output": "Login Web Panel dan berita acara"}))
    assert response.status_code == 302
    assert _versions() == [1, 2]
    revision = workflow.latest_version("muara_enim")
    assert revision.created_by_id == admin.id
    steps = {raw["key"]: raw for raw in revision.definition["steps"]}
    received = steps["terima_permohonan"]
    assert (received["waktu_menit"], received["role"]) == (20, "coordinator")
    assert steps["unggah_aplikasi"]["output"] == "Login Web Panel dan berita acara"
    [event] = _events("sop.revise")
    assert event.details == {"template": "muara_enim", "version": 2,
                             "steps": ["terima_permohonan", "telaah_koordinasi", "unggah_aplikasi"]}

    after = factories.hosting_request()
    db.session.commit()
    assert (before.template_version.version, after.template_version.version) == (1, 2)
    assert (before.steps[-1].due_minutes, after.steps[-1].due_minutes) == (5, 20)
    assert (before.steps[-1].role, after.steps[-1].role) == ("head", "coordinator")
    assert "Mutu Baku 5 menit" in client.get(f"/requests/{before.id}").get_data(as_text=True)
    assert "Mutu Baku 20 menit" in client.get(f"/requests/{after.id}").get_data(as_text=True)
    # The next step of the earlier request still follows version 1 (10 minutes, not 30).
    workflow.act(before, admin)
    db.session.commit()
    assert (before.steps[-1].step_key, before.steps[-1].due_minutes) == ("telaah_koordinasi", 10)


@pytest.mark.parametrize(("changes", "message"), [
    ({"terima_permohonan": {"waktu_menit": "0"}}, "waktu harus positif"),
    ({"terima_permohonan": {"waktu_menit": "-5"}}, "waktu harus positif"),
    ({"terima_permohonan": {"waktu_menit": "lima"}}, "Harus berupa bilangan bulat"),
    ({"terima_permohonan": {"role": "root"}}, "Pilihan tidak dikenal"),
    ({"terima_permohonan": {"role": "app_account"}}, "dilaksanakan Diskominfo"),
    ({"terima_permohonan": {"role": "auditor"}}, "dilaksanakan Diskominfo"),
    ({"telaah_koordinasi": {"role": "opd_admin"}}, "dilaksanakan Diskominfo"),
    ({"mulai": {"role": "technician"}}, "pelaksananya selalu Pengelola Aplikasi OPD"),
    ({"unggah_aplikasi": {"output": "  "}}, "tidak boleh kosong"),
    ({"verifikasi_keamanan": {"key": "langkah_palsu"}}, "tidak cocok dengan templat"),
])
def test_an_invalid_edit_shows_why_and_saves_nothing(client, login_as, changes: dict[str, Any],
                                                     message: str) -> None:
    login_as(RoleKey.SUPERADMIN)
    response = client.post("/admin/sop/muara_enim", data=_sop_form(client, **changes))
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert _versions() == [1] and _events("sop.revise") == []


def test_the_same_edit_sent_twice_makes_one_version(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    data = _sop_form(client, terima_permohonan={"waktu_menit": "15"})
    client.post("/admin/sop/muara_enim", data=data)
    again = client.post("/admin/sop/muara_enim", data=data, follow_redirects=True)
    assert "Tidak ada perubahan" in again.get_data(as_text=True)
    assert _versions() == [1, 2]


def test_an_edit_of_an_outdated_version_is_refused(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    stale = _sop_form(client, telaah_koordinasi={"waktu_menit": "25"})
    client.post("/admin/sop/muara_enim", data=_sop_form(client, terima_permohonan={"waktu_menit": "15"}))
    response = client.post("/admin/sop/muara_enim", data=stale)
    assert "sudah diubah menjadi versi 2" in response.get_data(as_text=True)
    assert _versions() == [1, 2]


# --- the menu ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "link"), [
    (RoleKey.SUPERADMIN, "Administrasi"), (RoleKey.TECHNICIAN, "Infrastruktur"),
    (RoleKey.COORDINATOR, None), (RoleKey.OPD_ADMIN, None),
])
def test_the_menu_links_administration_for_those_who_may_open_it(client, login_as, role: RoleKey,
                                                                 link: str | None) -> None:
    login_as(role)
    page = client.get("/").get_data(as_text=True)
    assert ('href="/admin/hosts"' in page) == (link is not None)
    if link:
        assert f">{link}</a>" in page
