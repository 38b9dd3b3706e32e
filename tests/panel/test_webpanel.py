"""The Web Panel of one app: who reaches it, what it keeps secret, and how its jobs behave.

The agent is replaced here by a small stand-in so each behaviour is checked in isolation; the real
agent, Docker, nginx and ClamAV are exercised end to end in test_flow_webpanel.py.
"""
from __future__ import annotations

import io
import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from agents import defaults as agent_defaults
from panel import crypto, gateway, storage
from panel.actions import apps as app_actions
from panel.extensions import db
from panel.models import (
    App,
    AppEnvVar,
    AppFinding,
    AppMetric,
    AppStatus,
    AppUpload,
    Attachment,
    AttachmentKind,
    AuditEvent,
    FindingAction,
    HostStatus,
    Job,
    JobStatus,
    ReleaseStatus,
    RoleKey,
    ScanKind,
    UploadStatus,
    User,
)
from panel.models.base import utcnow
from panel.permissions import access_of
from panel.services.apps import app_operations
from panel.services.releases import deployment
from panel.tasks import apps as app_tasks
from panel.tasks import notices
from panel.tasks import releases as release_tasks
from tests.panel import factories, flow
from tests.panel.conftest import csrf_token
from tests.panel.fake_agent import DB_SECRET, MIB, FakeAgent, deployed_app
from tests.support import tar_gz

ENV_SECRET = "kata-rahasia-yang-tidak-boleh-bocor-42"


@pytest.fixture
def agent(app: Flask, monkeypatch: pytest.MonkeyPatch) -> FakeAgent:
    fake = FakeAgent()
    monkeypatch.setattr(gateway.agents(app), "client", lambda host: fake)
    return fake


def post(client: FlaskClient, path: str, **data: Any) -> Any:
    return flow.post(client, path, **data)


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def files_in(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


# --- who reaches which app -------------------------------------------------------------------------


def _webpanel_rules(app: Flask) -> list[tuple[str, str]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("webpanel."):
            method = "POST" if "POST" in rule.methods else "GET"
            rules.append((rule.endpoint, method))
    return sorted(rules)


def _arguments_for(target: App) -> dict[str, Any]:
    """Build an object of each kind a webpanel URL names, all belonging to `target`."""
    upload = AppUpload(app_id=target.id, artifact_sha256=factories.scan_report("review").artifact_sha256,
                       status=UploadStatus.REVIEW)
    db.session.add(upload)
    db.session.add(AppEnvVar(app_id=target.id, name="APP_MODE", value="produksi"))
    job = Job(kind=app_actions.DATABASE_PASSWORD, target_type="App", target_id=str(target.id),
              status=JobStatus.SUCCEEDED, result={"sealed": crypto.encrypt(DB_SECRET)})
    db.session.add(job)
    built = factories.scan_report("infected", kind=ScanKind.BUILD)
    built.html_sha256, _size = storage.attachments().put(io.BytesIO(b"<p>laporan build</p>"), 10**6)
    release = factories.release(target, status=ReleaseStatus.FAILED, build_scan_report_id=built.id)
    finding = AppFinding(app_id=target.id, agent_id="a1b2c3", path="uploads/x.php",
                         served_path="uploads/x.php", sha256="0" * 64, rule="webshell", engine="php",
                         severity="high", detected_at=utcnow(), action=FindingAction.QUARANTINED)
    db.session.add(finding)
    db.session.flush()
    return {"app_id": target.id, "action": "restart", "upload_id": upload.id, "name": "APP_MODE",
            "job_id": job.id, "release_id": release.id, "backup_id": "a1b2c3d4", "finding_id": finding.id}


WHO = ("app account of another app", "OPD admin of another OPD")


@pytest.mark.parametrize("who", WHO)
def test_every_webpanel_route_answers_404_to_someone_who_may_not_see_the_app(app, who: str) -> None:
    own = deployed_app()
    other = deployed_app()
    if who == WHO[0]:
        user = factories.app_account(own)
    else:
        user = factories.user([RoleKey.OPD_ADMIN], opd=own.opd)
    arguments = _arguments_for(other)
    db.session.commit()
    client = flow.signed_in(app, user)
    token = csrf_token(client, "/account/password")
    rules = _webpanel_rules(app)
    assert len(rules) >= 20
    for endpoint, method in rules:
        with app.test_request_context():
            rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
            url = url_for(endpoint, **{k: v for k, v in arguments.items() if k in rule.arguments})
            roles = access_of(endpoint).roles  # type: ignore[union-attr]
        response = client.open(url, method=method, data={"csrf_token": token} if method == "POST" else None)
        # A route the user's role may never use is refused before any app is looked up (403).
        expected = 404 if not roles or user.has_role(*roles) else 403
        assert response.status_code == expected, f"{who} reached {method} {url}: {response.status_code}"
    # Nothing was done to the other app.
    assert db.session.scalar(select(func.count()).select_from(Job).where(Job.target_id == str(other.id))) == 1
    assert db.session.scalar(select(AppEnvVar.name).where(AppEnvVar.app_id == other.id)) == "APP_MODE"


def test_an_app_account_lands_on_its_own_app(app) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    assert client.get("/").location.endswith(f"/apps/{own.id}")
    page = client.get(f"/apps/{own.id}").get_data(as_text=True)
    assert own.fqdn in page and "Mulai ulang" in page
    listing = client.get("/apps").get_data(as_text=True)
    assert listing.count("Web Panel<span") == 1


def test_the_opd_admin_and_the_data_center_use_the_same_pages(app) -> None:
    own = deployed_app()
    admin = factories.user([RoleKey.OPD_ADMIN], opd=own.opd)
    auditor = factories.user([RoleKey.AUDITOR])
    db.session.commit()
    assert "Mulai ulang" in flow.signed_in(app, admin).get(f"/apps/{own.id}").get_data(as_text=True)
    read_only = flow.signed_in(app, auditor)
    page = read_only.get(f"/apps/{own.id}").get_data(as_text=True)
    assert own.fqdn in page and "Mulai ulang" not in page
    assert post(read_only, f"/apps/{own.id}/restart").status_code == 403


# --- power, double submits ---------------------------------------------------------------------------


def test_restart_is_a_job_whose_result_the_overview_shows(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    response = post(client, f"/apps/{own.id}/restart")
    assert response.status_code == 302
    assert agent.calls == [("restart", (own.name,))]
    job = db.session.scalar(select(Job).where(Job.kind == app_actions.CONTROL))
    assert job.status == JobStatus.SUCCEEDED and job.result["status"]["state"] == "running"
    page = client.get(f"/apps/{own.id}").get_data(as_text=True)
    assert "Aplikasi dimulai ulang" in page and "kontainer <strong>running</strong>" in page
    assert 'http-equiv="refresh"' not in page
    post(client, f"/apps/{own.id}/stop")
    db.session.expire_all()
    assert own.status == AppStatus.STOPPED
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "App")).all()
    assert {"app.restart", "app.stop"} <= set(actions)


def test_a_double_submit_starts_no_second_job(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.add(Job(kind=app_actions.CONTROL, target_type="App", target_id=str(own.id),
                       status=JobStatus.RUNNING))
    db.session.commit()
    client = flow.signed_in(app, login)
    page = client.get(f"/apps/{own.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page  # the page follows the running job
    for path in ("restart", "stop", "releases/rollback", "env/apply", "database/password"):
        post(client, f"/apps/{own.id}/{path}")
    assert "masih berjalan" in flow.flashes(client, f"/apps/{own.id}")
    assert count(Job) == 1 and agent.calls == []


# --- storage limit -------------------------------------------------------------------------------------


def test_a_technician_sets_the_storage_limit_through_the_agent_and_it_is_audited(
        app, agent: FakeAgent) -> None:
    own = deployed_app()
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    assert own.storage_mb == 1024  # the default: 1 GiB
    client = flow.signed_in(app, technician)

    response = post(client, f"/apps/{own.id}/storage", storage_mb=2048)

    assert response.status_code == 302 and response.location.endswith("#penyimpanan")
    assert agent.calls == [("set_storage", (own.name, 2048))]
    db.session.expire_all()
    assert own.storage_mb == 2048
    job = db.session.scalar(select(Job).where(Job.kind == app_actions.STORAGE))
    assert job.status == JobStatus.SUCCEEDED
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "app.storage"))
    assert event.actor == technician.username and event.details == {"before_mb": 1024, "after_mb": 2048}
    page = client.get(f"/apps/{own.id}/metrics").get_data(as_text=True)
    assert "Penyimpanan data" in page and "2.0 GiB" in page
    assert "300.0 MiB dari" in page and "Terapkan batas" in page


@pytest.mark.parametrize("role", [RoleKey.APP_ACCOUNT, RoleKey.OPD_ADMIN])
def test_the_app_account_and_its_opd_admin_may_not_change_the_storage_limit(
        app, agent: FakeAgent, role: RoleKey) -> None:
    own = deployed_app()
    user = factories.app_account(own) if role == RoleKey.APP_ACCOUNT else factories.user([role], opd=own.opd)
    db.session.commit()
    client = flow.signed_in(app, user)

    assert post(client, f"/apps/{own.id}/storage", storage_mb=999_999).status_code == 403

    page = client.get(f"/apps/{own.id}/metrics").get_data(as_text=True)
    assert "1.0 GiB" in page and "Terapkan batas" not in page  # they see the limit, not the form
    db.session.expire_all()
    assert own.storage_mb == 1024 and agent.calls == [] and count(Job) == 0


@pytest.mark.parametrize("value", ["16", str(2**20 + 1), "banyak", ""])
def test_a_storage_limit_outside_the_range_is_refused_before_any_job(app, agent: FakeAgent,
                                                                     value: str) -> None:
    own = deployed_app()
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    client = flow.signed_in(app, technician)
    post(client, f"/apps/{own.id}/storage", storage_mb=value)
    assert "Batas penyimpanan harus bilangan bulat 32 sampai 1048576 MiB" in flow.flashes(
        client, f"/apps/{own.id}/metrics")
    db.session.expire_all()
    assert own.storage_mb == 1024 and agent.calls == [] and count(Job) == 0


def test_a_limit_the_agent_refuses_changes_nothing_and_says_why(app, agent: FakeAgent) -> None:
    from panel.services.infra.agent_client import AgentRefused

    own = deployed_app()
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    agent.refuse_storage = AgentRefused(
        400, "invalid_request", "data aplikasi sudah memakai 700 MiB; batas 512 MiB lebih kecil dari itu")
    client = flow.signed_in(app, technician)
    post(client, f"/apps/{own.id}/storage", storage_mb=512)
    db.session.expire_all()
    job = db.session.scalar(select(Job).where(Job.kind == app_actions.STORAGE))
    assert job.status == JobStatus.FAILED and "lebih kecil dari itu" in (job.error or job.message or "")
    assert own.storage_mb == 1024
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "app.storage")) is None


def test_an_app_not_deployed_yet_keeps_its_limit_for_its_first_deploy(app, agent: FakeAgent) -> None:
    host = factories.host(status=HostStatus.ONLINE, cert_fingerprint="aa:bb:cc")
    waiting = factories.app(host=host, status=AppStatus.ALLOCATED)
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    post(flow.signed_in(app, technician), f"/apps/{waiting.id}/storage", storage_mb=4096)
    db.session.expire_all()
    assert waiting.storage_mb == 4096 and agent.calls == []


def test_the_overview_shows_the_storage_the_agent_reported(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    db.session.add(Job(kind=app_actions.CONTROL, target_type="App", target_id=str(own.id),
                       status=JobStatus.SUCCEEDED, result={"status": {
                           **agent._status(own.name), "storage": {
                               "limit_mb": 1024, "mounted": True, "total_bytes": 1000 * MIB,
                               "used_bytes": 250 * MIB, "free_bytes": 750 * MIB}}}))
    db.session.commit()
    page = flow.signed_in(app, login).get(f"/apps/{own.id}").get_data(as_text=True)
    assert "250.0 MiB terpakai dari batas 1.0 GiB" in page


# --- logs ---------------------------------------------------------------------------------------------


def test_logs_are_fetched_by_a_job_and_a_followed_log_can_be_stopped(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    post(client, f"/apps/{own.id}/logs", lines="50")
    page = client.get(f"/apps/{own.id}/logs?sumber=access").get_data(as_text=True)
    assert "baris access 2" in page and "50 baris terakhir" in page
    assert {call[1][2] for call in agent.calls} == {"app", "access", "error"}

    post(client, f"/apps/{own.id}/logs", lines="20", follow="y")
    job = db.session.scalars(select(Job).where(Job.kind == app_actions.LOGS).order_by(Job.id.desc())).first()
    assert job.status == JobStatus.RUNNING  # it fetches again in a few seconds
    page = client.get(f"/apps/{own.id}/logs").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "Berhenti mengikuti" in page and "baris app 2" in page
    post(client, f"/apps/{own.id}/logs", lines="20")
    assert "masih berjalan" in flow.flashes(client, f"/apps/{own.id}/logs")
    post(client, f"/apps/{own.id}/logs/stop")
    db.session.expire_all()
    assert job.status == JobStatus.SUCCEEDED
    # The fetch already scheduled finds the job stopped and leaves it as it is.
    calls = len(agent.calls)
    app_tasks.fetch_logs.call_local(job.id, own.id, 20, job.result["follow_until"])
    db.session.expire_all()
    assert job.status == JobStatus.SUCCEEDED and len(agent.calls) == calls


# --- resource use ------------------------------------------------------------------------------------


def test_metrics_are_sampled_pruned_and_drawn(app, agent: FakeAgent) -> None:
    own = deployed_app()
    stopped = factories.app(host=own.host, status=AppStatus.STOPPED)
    db.session.add(AppMetric(app_id=own.id, at=utcnow() - timedelta(days=8), cpu_percent=1, memory_bytes=1,
                             memory_limit_bytes=2))
    db.session.commit()
    assert app_tasks.collect_metrics.call_local() == 1
    assert [c for c in agent.calls if c[0] == "stats"] == [("stats", (own.name,))]
    assert stopped.id not in db.session.scalars(select(AppMetric.app_id)).all()
    rows = db.session.scalars(select(AppMetric)).all()
    assert len(rows) == 1 and rows[0].cpu_percent == 12.5  # the 8-day-old sample was pruned
    for minutes in range(1, 30):
        db.session.add(AppMetric(app_id=own.id, at=utcnow() - timedelta(minutes=minutes * 5),
                                 cpu_percent=minutes, memory_bytes=minutes * 2**20, memory_limit_bytes=2**28))
    db.session.commit()
    client = flow.signed_in(app, factories.app_account(own))
    db.session.commit()
    page = client.get(f"/apps/{own.id}/metrics").get_data(as_text=True)
    assert page.count("<svg") == 2 and "<polyline" in page and "<script" not in page
    assert "Pemakaian CPU, 24 jam terakhir" in page and "256 MiB" in page


def test_metric_series_are_averaged_down_to_a_bounded_number_of_points(app) -> None:
    own = deployed_app()
    start = utcnow() - timedelta(hours=10)
    for minute in range(600):
        db.session.add(AppMetric(app_id=own.id, at=start + timedelta(minutes=minute), cpu_percent=minute % 2,
                                 memory_bytes=100, memory_limit_bytes=200))
    db.session.flush()
    series = app_operations.metric_series(own, start, points=100)
    assert len(series) == 100 and all(point.cpu_percent == 0.5 for point in series)


# --- new versions ------------------------------------------------------------------------------------


def test_an_upload_too_big_is_refused_while_streaming_and_nothing_is_stored(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    app.config.update(BUNDLE_MAX_BYTES=1024, MAX_CONTENT_LENGTH=64 * 1024)
    path = f"/apps/{own.id}/uploads"
    # Over the request limit: refused while the body streams in (413).
    huge = client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, path), "bundle": (io.BytesIO(b"x" * (512 * 1024)), "besar.tar.gz")})
    assert huge.status_code == 413
    assert "melebihi batas 64.0 KiB dan tidak disimpan" in huge.get_data(as_text=True)
    # Over the bundle limit only: refused while it is copied into the store.
    big = client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, path), "bundle": (io.BytesIO(b"y" * 4096), "besar.tar.gz")})
    assert big.status_code == 302 and "melebihi batas" in flow.flashes(client, path)
    assert count(AppUpload) == 0 and files_in(Path(app.config["ARTIFACT_DIR"])) == []


class BrokenStream(io.BytesIO):
    """A request body whose sender goes away after `cut` bytes: reading past them fails."""

    def __init__(self, body: bytes, cut: int) -> None:
        super().__init__(body)
        self.cut = cut

    def _left(self, wanted: int) -> int:
        if self.tell() >= self.cut:
            raise ConnectionResetError("the client went away")
        return min(wanted, self.cut - self.tell())

    def read(self, size: int | None = -1) -> bytes:
        return super().read(self._left(size if size is not None and size >= 0 else self.cut))

    def readinto(self, buffer: Any) -> int:
        return super().readinto(memoryview(buffer)[:self._left(len(buffer))])


def test_an_interrupted_upload_stores_nothing_and_can_be_sent_again(app, agent: FakeAgent,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    scanned: list[int] = []
    monkeypatch.setattr(release_tasks, "process_upload", lambda job_id, upload_id: scanned.append(upload_id))
    client = flow.signed_in(app, login)
    path = f"/apps/{own.id}/uploads"
    bundle = tar_gz({"index.html": "<h1>versi baru</h1>\n", "data.bin": os.urandom(96_000).hex()})
    boundary, body = encode_multipart({
        "csrf_token": csrf_token(client, path),
        "bundle": FileStorage(io.BytesIO(bundle), filename="situs.tar.gz", content_type="application/gzip")})
    response = client.post(path, input_stream=BrokenStream(body, len(body) // 2), content_length=len(body),
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    assert count(AppUpload) == 0 and files_in(Path(app.config["ARTIFACT_DIR"])) == []

    again = client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, path), "bundle": (io.BytesIO(bundle), "situs.tar.gz")})
    assert again.status_code == 302
    upload = db.session.scalar(select(AppUpload))
    assert upload is not None and upload.status == UploadStatus.SCANNING and scanned == [upload.id]
    assert len(files_in(Path(app.config["ARTIFACT_DIR"]))) == 1
    # While it is being scanned, another version waits.
    post(client, path)
    third = client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, path), "bundle": (io.BytesIO(b"lain"), "lain.tar.gz")})
    assert third.status_code == 302 and "masih dipindai" in flow.flashes(client, path)
    assert count(AppUpload) == 1


def _review_upload(own: App, uploader: User) -> AppUpload:
    report = factories.scan_report("review", html_sha256=None, report={"verdict": "review", "findings": [
        {"path": "admin/eval.php", "message": "eval atas masukan", "verdict": "review"}]})
    upload = AppUpload(app_id=own.id, artifact_sha256=report.artifact_sha256, uploaded_by_id=uploader.id,
                       status=UploadStatus.REVIEW, scan_report_id=report.id)
    db.session.add(upload)
    db.session.flush()
    return upload


def test_a_technician_accepts_a_review_with_a_written_reason_and_it_is_deployed(
        app, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    own = deployed_app()
    owner = factories.app_account(own)
    upload = _review_upload(own, owner)
    db.session.add(AppEnvVar(app_id=own.id, name="APP_MODE", value="produksi"))
    technician = factories.user([RoleKey.TECHNICIAN], full_name="Teknisi Satu")
    db.session.commit()
    deployed: list[dict[str, str]] = []

    def fake_deploy(app_row, report, user, agents, zone, env=None, build_scanning=None):  # type: ignore[no-untyped-def]
        deployed.append(dict(env or {}))
        release = factories.release(app_row, scan_report=report, deployed_at=utcnow())
        for older in app_row.releases:
            if older is not release:
                older.status = ReleaseStatus.RETIRED
        return deployment.Deployed(release)

    monkeypatch.setattr("panel.services.releases.deployment.deploy", fake_deploy)
    monkeypatch.setattr("panel.services.requests.fulfilment.pemda_zone", lambda name: None)
    notified: list[int] = []
    monkeypatch.setattr(notices, "notify_release", lambda release_id: notified.append(release_id))

    client = flow.signed_in(app, technician)
    queue = client.get("/apps/reviews").get_data(as_text=True)
    assert own.fqdn in queue and f"/apps/{own.id}/uploads/{upload.id}/report" in queue
    post(client, f"/apps/reviews/{upload.id}/accept", reason="ok")
    assert "minimal 20 karakter" in flow.flashes(client, "/apps/reviews")
    db.session.expire_all()
    assert upload.status == UploadStatus.REVIEW
    reason = "eval() hanya memproses konstanta dari berkas konfigurasi, sudah diperiksa."
    post(client, f"/apps/reviews/{upload.id}/accept", reason=reason)
    db.session.expire_all()
    assert upload.status == UploadStatus.DEPLOYED and upload.release.number == 2
    assert upload.scan_report.accepted_by_id == technician.id and upload.scan_report.accepted_reason == reason
    assert deployed == [{"APP_MODE": "produksi"}] and notified == [upload.release_id]
    assert db.session.scalar(select(AppEnvVar.applied_at)) is not None
    assert "Tidak ada versi baru" in client.get("/apps/reviews").get_data(as_text=True)
    owner_page = flow.signed_in(app, owner).get(f"/apps/{own.id}/uploads").get_data(as_text=True)
    assert "Terpasang" in owner_page and "Rilis ke-2" in owner_page


def test_a_failed_deploy_keeps_the_old_release_and_tells_the_administrators(
        app, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch) -> None:

    own = deployed_app()
    upload = _review_upload(own, factories.app_account(own))
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()

    def failing_deploy(app_row, report, user, agents, zone, env=None, build_scanning=None):  # type: ignore[no-untyped-def]
        factories.release(app_row, scan_report=report, status=ReleaseStatus.FAILED)
        raise deployment.DeployFailed("Agen menolak rilis: pemeriksaan kesehatan gagal")

    monkeypatch.setattr("panel.services.releases.deployment.deploy", failing_deploy)
    monkeypatch.setattr("panel.services.requests.fulfilment.pemda_zone", lambda name: None)
    notified: list[int] = []
    monkeypatch.setattr(notices, "notify_release", lambda release_id: notified.append(release_id))
    post(flow.signed_in(app, technician), f"/apps/reviews/{upload.id}/accept", reason="x" * 30)
    db.session.expire_all()
    assert upload.status == UploadStatus.FAILED and "pemeriksaan kesehatan gagal" in upload.reason
    assert upload.release.number == 2 and notified == [upload.release_id]
    assert [r.status for r in own.releases] == [ReleaseStatus.LIVE, ReleaseStatus.FAILED]


def test_a_newer_upload_replaces_one_waiting_for_review(app, monkeypatch: pytest.MonkeyPatch) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    waiting = _review_upload(own, login)
    db.session.commit()
    monkeypatch.setattr(release_tasks, "process_upload", lambda job_id, upload_id: None)
    client = flow.signed_in(app, login)
    path = f"/apps/{own.id}/uploads"
    client.post(path, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, path), "bundle": (io.BytesIO(b"baru"), "baru.tar.gz")})
    db.session.expire_all()
    newer = db.session.scalars(select(AppUpload).order_by(AppUpload.id.desc())).first()
    assert newer.id != waiting.id and newer.status == UploadStatus.SCANNING
    assert waiting.status == UploadStatus.BLOCKED and waiting.reason == f"Digantikan unggahan #{newer.id}."


def test_an_infected_upload_is_blocked_with_its_reason(app) -> None:
    from panel.services.releases import app_uploads

    own = deployed_app()
    report = factories.scan_report("infected", report={"verdict": "infected", "findings": [
        {"path": "up/shell.php", "message": "webshell c99", "verdict": "infected"}]})
    upload = AppUpload(app_id=own.id, artifact_sha256=report.artifact_sha256, status=UploadStatus.SCANNING)
    db.session.add(upload)
    db.session.flush()
    app_uploads.block(upload, app_uploads.blocked_reason(report))
    assert upload.status == UploadStatus.BLOCKED and "up/shell.php: webshell c99" in upload.reason
    with pytest.raises(app_uploads.UploadRefused):
        app_uploads.accept(upload, factories.user([RoleKey.TECHNICIAN]), "x" * 40)


# --- releases ------------------------------------------------------------------------------------------


def test_rollback_returns_to_the_previous_release_and_marks_the_releases(app, agent: FakeAgent) -> None:
    own = deployed_app()
    first = own.releases[0]
    first.status = ReleaseStatus.RETIRED
    second = factories.release(own, deployed_at=utcnow())
    login = factories.app_account(own)
    db.session.commit()
    agent.rollback_to = first.id
    client = flow.signed_in(app, login)
    assert "Kembali ke rilis sebelumnya" in client.get(f"/apps/{own.id}/releases").get_data(as_text=True)
    post(client, f"/apps/{own.id}/releases/rollback")
    db.session.expire_all()
    assert (first.status, second.status) == (ReleaseStatus.LIVE, ReleaseStatus.RETIRED)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "release.rollback"))
    assert event.details["number"] == 1 and event.details["left"] == 2 and event.actor == login.username


# --- environment variables ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["app_env", "1APP", "APP-ENV", "A" * 65, "", "DB_HOST", "DB_PASSWORD",
                                  "WADAH_DOCROOT", "WADAH_ANYTHING", "PATH",
                                  *sorted(agent_defaults.RESERVED_ENV)])
def test_invalid_or_reserved_env_names_are_refused(app, name: str) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    response = post(client, f"/apps/{own.id}/env", name=name, value="x")
    assert response.status_code == 400
    assert count(AppEnvVar) == 0


# Each makes a runtime, the dynamic linker or a shell load code the scan never saw.
CODE_LOADING_NAMES = [
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PHPRC", "PHP_INI_SCAN_DIR", "PHP_VALUE", "PHP_ADMIN_VALUE",
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONWARNINGS", "NODE_OPTIONS", "NODE_PATH",
    "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "BASH_ENV", "ENV", "GCONV_PATH", "HOSTALIASES",
    "LOCPATH", "NLSPATH", "MALLOC_CHECK_", "GLIBC_TUNABLES", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "IFS",
    "SHELLOPTS", "OPENSSL_CONF", "LUA_INIT",
]


@pytest.mark.parametrize("name", CODE_LOADING_NAMES)
def test_env_names_that_load_code_are_refused_saying_why(app, agent: FakeAgent, name: str) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    response = post(client, f"/apps/{own.id}/env", name=name, value="/srv/app/storage/x.so")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f"Variabel {name} ditolak" in page and "tidak pernah dipindai" in page
    assert count(AppEnvVar) == 0 and count(Job) == 0 and agent.calls == []


def test_ordinary_env_names_that_resemble_refused_ones_are_kept(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    page = client.get(f"/apps/{own.id}/env").get_data(as_text=True)
    assert "memuat kode" in page and "tidak pernah dipindai" in page  # the page says why beforehand
    for name in ("NODE_ENV", "APP_ENV", "LDAP_HOST", "ENVIRONMENT", "PHP_MEMORY_LIMIT", "JAVA_HOME"):
        assert post(client, f"/apps/{own.id}/env", name=name, value="x").status_code == 302, name
    assert count(AppEnvVar) == 6


def test_a_stored_variable_refused_since_is_not_applied(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.add(AppEnvVar(app_id=own.id, name="LD_PRELOAD", value="/srv/app/storage/x.so"))
    db.session.commit()
    client = flow.signed_in(app, login)
    post(client, f"/apps/{own.id}/env/apply")
    assert "Variabel LD_PRELOAD ditolak" in flow.flashes(client, f"/apps/{own.id}/env")
    assert count(Job) == 0 and agent.calls == [] and agent.env == {}


def test_env_values_are_encrypted_at_rest_masked_and_never_audited(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    client = flow.signed_in(app, login)
    assert post(client, f"/apps/{own.id}/env", name="API_SECRET", value=ENV_SECRET).status_code == 302
    post(client, f"/apps/{own.id}/env", name="APP_ENV", value="production")
    raw = db.session.execute(text("SELECT name, value FROM app_env_vars ORDER BY name")).all()
    assert [name for name, _ in raw] == ["API_SECRET", "APP_ENV"]
    assert all(ENV_SECRET not in value and "production" not in value for _, value in raw)
    assert crypto.decrypt(raw[0][1]) == ENV_SECRET

    page = client.get(f"/apps/{own.id}/env").get_data(as_text=True)
    assert "API_SECRET" in page and ENV_SECRET not in page and "belum diterapkan" in page
    revealed = post(client, f"/apps/{own.id}/env/API_SECRET/reveal")
    assert ENV_SECRET in revealed.get_data(as_text=True) and revealed.headers["Cache-Control"] == "no-store"

    post(client, f"/apps/{own.id}/env/apply")
    assert agent.env == {"API_SECRET": ENV_SECRET, "APP_ENV": "production"}
    assert "belum diterapkan" not in client.get(f"/apps/{own.id}/env").get_data(as_text=True)
    post(client, f"/apps/{own.id}/env/APP_ENV/delete")
    assert "akan dihapus" in client.get(f"/apps/{own.id}/env").get_data(as_text=True)
    post(client, f"/apps/{own.id}/env/apply")
    assert agent.env == {"API_SECRET": ENV_SECRET}
    assert db.session.scalars(select(AppEnvVar.name)).all() == ["API_SECRET"]

    stored = " ".join(str(row) for row in db.session.execute(text("SELECT * FROM audit_events")).all())
    stored += " ".join(str(row) for row in db.session.execute(text("SELECT * FROM jobs")).all())
    assert ENV_SECRET not in stored and "API_SECRET" in stored


# --- database -----------------------------------------------------------------------------------------


def test_an_app_without_a_database_offers_no_reset(app, agent: FakeAgent) -> None:
    own = deployed_app()
    login = factories.app_account(own)
    db.session.commit()
    page = flow.signed_in(app, login).get(f"/apps/{own.id}/database").get_data(as_text=True)
    assert "tidak memakai basis data" in page and "Atur ulang kata sandi" not in page


def test_a_new_database_password_is_shown_once_to_its_requester_only(app, agent: FakeAgent) -> None:
    own = deployed_app(needs_database=True)
    login = factories.app_account(own)
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    client = flow.signed_in(app, login)
    post(client, f"/apps/{own.id}/database")
    page = client.get(f"/apps/{own.id}/database").get_data(as_text=True)
    assert "wadah_x" in page and "rahasia-lama" not in page

    post(client, f"/apps/{own.id}/database/password")
    job = db.session.scalar(select(Job).where(Job.kind == app_actions.DATABASE_PASSWORD))
    assert job.status == JobStatus.SUCCEEDED
    raw = " ".join(str(row) for row in db.session.execute(text("SELECT * FROM jobs")).all())
    assert DB_SECRET not in raw  # kept encrypted until it is shown
    other = flow.signed_in(app, technician)
    assert "Tampilkan kata sandi baru" not in other.get(f"/apps/{own.id}/database").get_data(as_text=True)
    refused = post(other, f"/apps/{own.id}/database/password/{job.id}")
    assert refused.status_code == 302 and DB_SECRET not in refused.get_data(as_text=True)

    assert "Tampilkan kata sandi baru" in client.get(f"/apps/{own.id}/database").get_data(as_text=True)
    shown = post(client, f"/apps/{own.id}/database/password/{job.id}")
    assert shown.status_code == 200 and DB_SECRET in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    again = post(client, f"/apps/{own.id}/database/password/{job.id}")
    assert again.status_code == 302 and DB_SECRET not in again.get_data(as_text=True)
    everything = " ".join(str(row) for table in ("jobs", "audit_events")
                          for row in db.session.execute(text(f"SELECT * FROM {table}")).all())
    assert DB_SECRET not in everything and "sealed" not in everything


# --- domain and the hosting report letter ----------------------------------------------------------


def test_the_domain_page_reports_what_the_checks_found(app, agent: FakeAgent) -> None:
    own = deployed_app(ip="127.0.0.1")
    login = factories.app_account(own)
    db.session.commit()
    with socket.socket() as closed:  # nothing serves TLS there: the page says so, naming the address
        closed.bind(("127.0.0.1", 0))
        app.config["TLS_CHECK_PORT"] = closed.getsockname()[1]
    client = flow.signed_in(app, login)
    post(client, f"/apps/{own.id}/domain")
    page = client.get(f"/apps/{own.id}/domain").get_data(as_text=True)
    assert "Zona DNS contoh.go.id belum didaftarkan" in page and "kontainer running" in page
    assert f"127.0.0.1:{app.config['TLS_CHECK_PORT']} tidak menjawab TLS untuk {own.fqdn}" in page


def test_the_app_account_downloads_its_hosting_report_letter(app) -> None:
    filed = factories.hosting_request()
    own = deployed_app(owner=filed.opd, request_id=filed.id)
    letter = filed.attachments[0]
    db.session.add(Attachment(request_id=filed.id, kind=AttachmentKind.HOSTING_REPORT,
                              filename="surat-laporan-hosting.pdf", sha256=letter.sha256, size=letter.size,
                              content_type="application/pdf"))
    login = factories.app_account(own)
    bare = deployed_app()
    db.session.commit()
    client = flow.signed_in(app, login)
    assert "surat-laporan-hosting.pdf" in client.get(f"/apps/{own.id}").get_data(as_text=True)
    response = client.get(f"/apps/{own.id}/report-letter")
    assert response.status_code == 200 and response.data == factories.MINIMAL_PDF
    assert 'filename=surat-laporan-hosting.pdf' in response.headers["Content-Disposition"]
    admin = flow.signed_in(app, factories.user([RoleKey.TECHNICIAN]))
    db.session.commit()
    assert admin.get(f"/apps/{bare.id}/report-letter").status_code == 404


def test_the_scan_report_is_served_sandboxed(app) -> None:
    from panel import storage

    own = deployed_app()
    login = factories.app_account(own)
    upload = _review_upload(own, login)
    upload.scan_report.html_sha256, _ = storage.attachments().put(
        io.BytesIO(b"<html><style>p{}</style><p>laporan</p></html>"), 10**6)
    db.session.commit()
    response = flow.signed_in(app, login).get(f"/apps/{own.id}/uploads/{upload.id}/report")
    assert response.status_code == 200 and b"laporan" in response.data
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_job_labels_cover_every_kind() -> None:
    from panel.blueprints.webpanel_common import JOB_LABELS

    kinds = {value for name, value in vars(app_actions).items() if name.isupper() and isinstance(value, str)
             and value.startswith("app_")}
    assert kinds == set(JOB_LABELS)
