"""A worker killed (SIGKILL) in the middle of a scan and of a deploy: the real `wadah worker` process,
the real scanner and clamd, a real agent. Each job ends `failed` with a message the technician can act
on, the same button is not refused as a double submit, and a new worker does the work on the retry."""
from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from panel import config as configuration
from panel import create_app, database
from panel.extensions import db
from panel.models import HostingRequest, Job, JobStatus, RoleKey, ScanReport, Worker
from panel.services.infra import hosts
from panel.services.requests import workflow
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow

FAILED_WITHIN_S = 60  # the bound the reaper keeps after a worker dies
WORK_WITHIN_S = 240  # a scan of the large bundle, or a deploy, by a live worker
LARGE_SITE_FILES = 3000  # enough files that the scan runs for many seconds


@pytest.fixture
def panel_state(tmp_path: Path, testbed: dict[str, dict[str, Any]],
                dns_zone: dict[str, Any]) -> Iterator[tuple[Flask, Path]]:
    """A panel state directory as `wadah up` makes it; yield an app on it that queues jobs for workers."""
    state = tmp_path / "wadah"
    instance = state / "panel"
    configuration.write_instance_file(instance, {
        "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
        "CLAMD_URL": testbed["clamd"]["address"], "PEMDA_DOMAIN": dns_zone["zone"]})
    database.upgrade(f"sqlite:///{instance / 'wadah.db'}")
    app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True, "RATELIMIT_ENABLED": False})
    assert not app.config["JOBS_IMMEDIATE"]
    with app.app_context():
        workflow.ensure_builtin_templates()
        db.session.commit()
        yield app, state
        db.session.remove()


class WorkerProcess:
    """`wadah worker` on the test's state directory, as `wadah up` and systemd run it."""

    def __init__(self, state: Path, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "WADAH_STATE_DIR"}
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "panel.cli", "--state-dir", str(state), "worker", "--workers", "2"],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self._beating():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not start:\n{log.read_text()}")
            time.sleep(0.2)

    def _beating(self) -> bool:
        db.session.rollback()
        return db.session.scalar(select(Worker.id).where(Worker.pid == self.process.pid)) is not None

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _job(job_id: int) -> Job:
    db.session.rollback()  # read what the worker committed, not this session's copy
    return db.session.get_one(Job, job_id)


def _newest(kind: str) -> Job:
    db.session.rollback()
    return db.session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id.desc())).first()


def _wait(job_id: int, done: Any, within_s: float, what: str, log: Path) -> Job:
    deadline = time.monotonic() + within_s
    while True:
        job = _job(job_id)
        if done(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} ({what}) still {job.status} «{job.message}» after {within_s} s:\n"
                        f"{log.read_text()[-3000:]}")
        time.sleep(0.05)


def _ended(job: Job) -> bool:
    return job.status not in (JobStatus.QUEUED, JobStatus.RUNNING)


def _post(client: FlaskClient, path: str) -> str:
    """Press a button on the request's page; return the flashed messages."""
    answer = flow.post(client, path)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    return flow.flashes(client, path.rsplit("/", 1)[0])


def test_a_worker_killed_mid_scan_and_mid_deploy_leaves_jobs_that_fail_and_can_be_retried(
    panel_state: tuple[Flask, Path], testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any],
    runtime_images: Any, tmp_path: Path,
) -> None:
    app, state = panel_state
    log = tmp_path / "worker.log"
    zone, agents = flow.on_testbed(app, testbed, dns_zone)  # the worker reads the same instance
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"mati{secrets.token_hex(3)}"
    marker = f"Setelah pekerja mati {subdomain}"
    site = {"index.html": f"<h1>{marker}</h1>\n"}
    site.update({f"arsip/bagian{i // 100}/halaman{i}.html": f"<h1>Halaman {i}</h1>\n" + "<p>Isi</p>\n" * 40
                 for i in range(LARGE_SITE_FILES)})

    with running_agent(agents, f"host-{subdomain}", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain)
        technician = flow.signed_in(app, technician_user)
        path = f"/requests/{filed.id}"
        worker = WorkerProcess(state, log)
        try:
            uploaded = technician.post(f"{path}/bundle", content_type="multipart/form-data", data={
                "csrf_token": csrf_token(technician, path),
                "bundle": (io.BytesIO(tar_gz(site)), "situs-besar.tar.gz")})
            assert uploaded.status_code == 302, flow.flashes(technician, path)

            # -- the scan: killed half-way through the bundle's files ------------------------------
            _post(technician, f"{path}/scan")
            scan = _newest("scan")
            _wait(scan.id, lambda j: "berkas diperiksa" in j.message or _ended(j), WORK_WITHIN_S,
                  "scan starting", log)
            worker.kill()
            half = _job(scan.id)
            assert half.status == JobStatus.RUNNING and half.progress < 100, half.message

            # Whoever looks first releases it: here the new worker, at start or with a beat.
            worker = WorkerProcess(state, log)
            failed = _wait(scan.id, _ended, FAILED_WITHIN_S, "reaped", log)
            assert failed.status == JobStatus.FAILED
            assert failed.error == "Pekerja berhenti saat menjalankan tugas ini; jalankan lagi."
            assert "Pekerja berhenti" in technician.get(path).get_data(as_text=True)  # what they see
            db.session.expire_all()
            abandoned = db.session.scalars(select(ScanReport).where(
                ScanReport.artifact_sha256 == filed.artifact_sha256)).all()
            assert [r.verdict for r in abandoned] == ["error"]  # the half-made report ended, not left open

            flashed = _post(technician, f"{path}/scan")  # the same button: not refused as running
            assert "sedang berjalan" not in flashed, flashed
            retry = _newest("scan")
            assert retry.id != scan.id
            retry = _wait(retry.id, _ended, WORK_WITHIN_S, "scan retry", log)
            assert retry.status == JobStatus.SUCCEEDED and retry.result["verdict"] == "clean", retry.error
            _post(technician, f"{path}/allocate")
            allocated = _wait(_newest("allocate").id, _ended, WORK_WITHIN_S, "allocate", log)
            assert allocated.status == JobStatus.SUCCEEDED, allocated.error
            db.session.expire_all()
            assert db.session.get_one(HostingRequest, filed.id).current_step == "unggah_aplikasi", \
                flow.flashes(technician, path)

            # -- the deploy: killed while the agent is at work ---------------------------------------
            _post(technician, f"{path}/deploy")
            deploy = _newest("deploy")
            _wait(deploy.id, lambda j: j.message == "Mengirim berkas ke agen host" or _ended(j),
                  WORK_WITHIN_S, "deploy starting", log)
            worker.kill()
            assert _job(deploy.id).status == JobStatus.RUNNING

            worker = WorkerProcess(state, log)
            failed = _wait(deploy.id, _ended, FAILED_WITHIN_S, "reaped", log)
            assert failed.status == JobStatus.FAILED and "Pekerja berhenti" in (failed.error or "")

            flashed = _post(technician, f"{path}/deploy")
            assert "sedang berjalan" not in flashed, flashed
            retry = _newest("deploy")
            assert retry.id != deploy.id
            retry = _wait(retry.id, _ended, WORK_WITHIN_S, "deploy retry", log)
            assert retry.status == JobStatus.SUCCEEDED, retry.error
            served = fetch(testbed["nginx"]["http"], f"{subdomain}.{zone.name}")
            assert served == (200, f"<h1>{marker}</h1>\n")
        finally:
            worker.stop()
            flow.clean_up(agents, host, subdomain, zone)
