"""Backups and watched apps through the panel, end to end on the real testbed with a real agent.

The drill: a PHP app with a database is deployed, content is written through nginx (a row and an
uploaded file), a backup is taken through the API, the database is dropped and the data deleted, and
a restore through the API brings the content back through nginx. And a judi-online page dropped into
the app's writable path stops being served, shows on the API and the Web Panel, and a technician's
*pulihkan* serves it again.
"""
from __future__ import annotations

import http.client
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest
from flask import Flask
from sqlalchemy import select

from panel.actions import apps as app_actions
from panel.extensions import db
from panel.models import App, AppFinding, FindingAction, JobStatus, RoleKey
from panel.services.infra import hosts
from panel.tasks import apps as app_tasks
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.openapi import conforms
from tests.panel.smtp import smtp_server
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
JUDOL_PAGE = CORPUS / "malicious" / "judol" / "landing_slot_gacor.html"
WATCH_WITHIN_S = 60  # the agent's watcher quarantines a dropped file within this

# A CodeIgniter 3 layout: its `uploads` is the writable path. tulis.php stores what is posted as a
# row and as an uploaded file; baca.php reads the rows back.
NOTES_APP = {
    "system/core/CodeIgniter.php": "<?php\n// penanda kerangka CodeIgniter 3\n",
    "application/config/config.php": "<?php\n$config = [];\n",
    "uploads/index.html": "<p>unggahan</p>\n",
    "koneksi.php": (
        "<?php\n"
        "$dsn = 'mysql:unix_socket=' . getenv('DB_SOCKET') . ';dbname=' . getenv('DB_DATABASE');\n"
        "$db = new PDO($dsn, getenv('DB_USERNAME'), getenv('DB_PASSWORD'));\n"
        "$db->exec('CREATE TABLE IF NOT EXISTS catatan (isi VARCHAR(200))');\n"),
    "tulis.php": (
        "<?php\nrequire __DIR__ . '/koneksi.php';\n"
        "$isi = file_get_contents('php://input');\n"
        "$db->prepare('INSERT INTO catatan VALUES (?)')->execute([$isi]);\n"
        "file_put_contents(__DIR__ . '/uploads/berkas.txt', $isi);\n"
        "echo 'tersimpan';\n"),
    "baca.php": (
        "<?php\nrequire __DIR__ . '/koneksi.php';\n"
        "$rows = $db->query('SELECT isi FROM catatan')->fetchAll(PDO::FETCH_COLUMN);\n"
        "echo 'catatan:', implode(',', $rows);\n"),
    "index.php": "<?php echo 'catatan aplikasi';\n",
}


def _post(address: str, host: str, path: str, body: bytes) -> tuple[int, str]:
    hostname, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(hostname, int(port), timeout=30)
    try:
        connection.request("POST", path, body=body,
                           headers={"Host": host, "Content-Type": "application/octet-stream"})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def _deployed(app: Flask, testbed: dict[str, dict[str, Any]], filed: Any) -> App:
    technician = flow.signed_in(app, factories.user([RoleKey.TECHNICIAN]))
    db.session.commit()
    flow.deploy_and_hand_over(technician, filed, tar_gz(NOTES_APP))
    app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
    assert app_row is not None and app_row.live_release is not None, flow.flashes(
        technician, f"/requests/{filed.id}")
    return app_row


def test_a_backup_restored_through_the_api_brings_back_the_database_and_the_files(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    mariadb_admin: dict[str, Any], tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    subdomain = f"drill{secrets.token_hex(3)}"
    nginx = testbed["nginx"]["http"]
    marker = f"isi-{secrets.token_hex(4)}"

    name = f"host-drill-{secrets.token_hex(2)}"
    with running_agent(agents, name, testbed, tmp_path, mariadb_admin) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain, stack="php", needs_database=True)
        try:
            app_row = _deployed(app, testbed, filed)
            fqdn, app_id = app_row.fqdn, app_row.id
            admin = factories.user([RoleKey.OPD_ADMIN], opd=app_row.opd)
            _token, secret = factories.api_token(admin)
            db.session.commit()
            api = app.test_client()
            bearer = {"Authorization": f"Bearer {secret}"}

            # Content written through nginx: a row in its database and an uploaded file.
            assert _post(nginx, fqdn, "/tulis.php", marker.encode()) == (200, "tersimpan")
            assert fetch(nginx, fqdn, "/baca.php") == (200, f"catatan:{marker}")
            assert fetch(nginx, fqdn, "/uploads/berkas.txt") == (200, marker)

            taken = api.post(f"/api/v1/apps/{app_id}/backups", headers=bearer)
            assert conforms(taken, "/apps/{app_id}/backups", "post")["kind"] == app_actions.BACKUP
            job = flow.newest_job(app_actions.BACKUP)
            assert job.status == JobStatus.SUCCEEDED, job.error
            listed = conforms(api.get(f"/api/v1/apps/{app_id}/backups", headers=bearer),
                              "/apps/{app_id}/backups")["items"]
            assert [item["reason"] for item in listed] == ["manual"]
            backup_id = listed[0]["id"]

            # The loss: its database dropped by the MariaDB admin, its data deleted on the host.
            with agents.client(host) as agent:
                database = agent.database(app_row.name)["database"]
            with pymysql.connect(host=mariadb_admin["host"], port=mariadb_admin["port"],
                                 user=mariadb_admin["user"], password=mariadb_admin["password"]) as admin_db:
                with admin_db.cursor() as cursor:
                    cursor.execute(f"DROP DATABASE `{database}`")
                    cursor.execute(f"CREATE DATABASE `{database}`")  # empty, as after a bad migration
            uploads = tmp_path / f"agent-{host.name}" / "data" / app_row.name / "uploads"
            for child in uploads.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            assert fetch(nginx, fqdn, "/uploads/berkas.txt")[0] == 404
            assert fetch(nginx, fqdn, "/baca.php") == (200, "catatan:")

            # Bad input first: an unknown backup, another agency's app as the target, another agency.
            unknown = api.post(f"/api/v1/apps/{app_id}/backups/deadbeef/restore", headers=bearer, json={})
            assert conforms(unknown, "/apps/{app_id}/backups/{backup_id}/restore",
                            "post")["error"]["code"] == "unknown_backup"
            foreign = factories.app()
            stranger = factories.user([RoleKey.OPD_ADMIN])
            _t, stranger_secret = factories.api_token(stranger)
            db.session.commit()
            crossed = api.post(f"/api/v1/apps/{app_id}/backups/{backup_id}/restore", headers=bearer,
                               json={"into_app_id": foreign.id})
            assert conforms(crossed, "/apps/{app_id}/backups/{backup_id}/restore", "post")[
                "error"]["status"] == 404
            theirs = api.post(f"/api/v1/apps/{app_id}/backups/{backup_id}/restore",
                              headers={"Authorization": f"Bearer {stranger_secret}"}, json={})
            assert theirs.status_code == 404
            assert api.get(f"/api/v1/apps/{app_id}/backups",
                           headers={"Authorization": f"Bearer {stranger_secret}"}).status_code == 404
            assert flow.newest_job(app_actions.RESTORE) is None  # none of them started anything

            restored = api.post(f"/api/v1/apps/{app_id}/backups/{backup_id}/restore", headers=bearer,
                                json={"into_app_id": None})
            assert conforms(restored, "/apps/{app_id}/backups/{backup_id}/restore", "post")["status"]
            job = flow.newest_job(app_actions.RESTORE)
            assert job.status == JobStatus.SUCCEEDED, job.error
            assert fetch(nginx, fqdn, "/baca.php") == (200, f"catatan:{marker}")
            assert fetch(nginx, fqdn, "/uploads/berkas.txt") == (200, marker)
            # The restore was preceded by a safety backup of the state it replaced.
            reasons = [item["reason"] for item in api.get(f"/api/v1/apps/{app_id}/backups",
                                                          headers=bearer).get_json()["items"]]
            assert sorted(reasons) == ["manual", "sebelum-pemulihan"]
        finally:
            flow.clean_up(agents, host, subdomain, zone)

    # Its agent is gone: the list says so, with 503.
    gone = api.get(f"/api/v1/apps/{app_id}/backups", headers=bearer)
    assert conforms(gone, "/apps/{app_id}/backups")["error"]["code"] == "agent_unavailable"


def test_a_judi_online_page_dropped_into_an_app_is_quarantined_shown_and_released(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    mariadb_admin: dict[str, Any], tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    subdomain = f"pantau{secrets.token_hex(3)}"
    nginx = testbed["nginx"]["http"]

    with smtp_server() as inbox, running_agent(agents, f"host-watch-{secrets.token_hex(2)}", testbed,
                                                tmp_path, mariadb_admin) as host:
        app.config.update(SMTP_HOST=inbox.host, SMTP_PORT=inbox.port)
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain, stack="php", needs_database=True)
        try:
            app_row = _deployed(app, testbed, filed)
            fqdn, app_id = app_row.fqdn, app_row.id
            technician_user = factories.user([RoleKey.TECHNICIAN], email="teknisi@contoh.go.id")
            db.session.commit()
            inbox.clear()

            # Dropped as root straight into the app's writable path, as a webshell would write it.
            uploads = tmp_path / f"agent-{host.name}" / "data" / app_row.name / "uploads"
            (uploads / "promo.html").write_bytes(JUDOL_PAGE.read_bytes())
            deadline = time.monotonic() + WATCH_WITHIN_S
            while fetch(nginx, fqdn, "/uploads/promo.html")[0] != 404:
                assert time.monotonic() < deadline, "the page is still served"
                time.sleep(1)

            assert app_tasks.watch_apps.call_local() == 1  # the periodic job copies it and mails
            finding = db.session.scalar(select(AppFinding).where(AppFinding.app_id == app_id))
            assert finding.action == FindingAction.QUARANTINED
            assert finding.served_path == "uploads/promo.html"
            assert "teknisi@contoh.go.id" in inbox.recipients()
            assert app_tasks.watch_apps.call_local() == 0  # known already: mailed once

            technician = flow.signed_in(app, technician_user)
            _t, secret = factories.api_token(technician_user)
            db.session.commit()
            listed = conforms(app.test_client().get(f"/api/v1/apps/{app_id}/findings",
                                                    headers={"Authorization": f"Bearer {secret}"}),
                              "/apps/{app_id}/findings")["items"]
            assert [(i["path"], i["action"]) for i in listed] == [("uploads/promo.html", "quarantined")]
            page = technician.get(f"/apps/{app_id}/findings").get_data(as_text=True)
            assert "uploads/promo.html" in page and f"/findings/{finding.id}/release" in page

            flow.post(technician, f"/apps/{app_id}/findings/{finding.id}/release")
            db.session.expire_all()
            assert db.session.get(AppFinding, finding.id).action == FindingAction.RELEASED
            assert fetch(nginx, fqdn, "/uploads/promo.html")[0] == 200
        finally:
            flow.clean_up(agents, host, subdomain, zone)
