"""Jobs: tasks run in the app context, an unexpected error ends its job, and no job stays unfinished
for good (the reaper), with the panel's health telling whether jobs can run at all."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask, current_app

from panel import config as configuration
from panel import create_app, database, jobs
from panel.cli import main
from panel.extensions import db
from panel.jobs import task
from panel.models import AppUpload, HostStatus, Job, JobStatus, RoleKey, UploadStatus, Worker
from panel.models.base import utcnow
from tests.panel import factories
from tests.panel.openapi import conforms

SECRET_TEXT = "sandi-rahasia-jangan-bocor"  # what an exception may carry; never shown to users
recovered: list[tuple[int, str]] = []


@task()
def _which_pemda() -> str:
    return current_app.config["PEMDA_NAME"]


@task()
def _explodes(job_id: int) -> str:
    job = db.session.get_one(Job, job_id)
    jobs.started(job)
    db.session.commit()
    raise LookupError(f"koneksi ke db://admin:{SECRET_TEXT}@10.0.0.9 putus")


@jobs.recovery("uji_meledak")
def _recover(job: Job, reason: str) -> None:
    recovered.append((job.id, reason))


def test_task_runs_inside_the_app_context(app) -> None:
    # Immediate mode (tests) runs the task in-process; the worker runs the same wrapper.
    assert _which_pemda()() == app.config["PEMDA_NAME"]


def test_an_unexpected_error_fails_the_job_with_its_class_and_runs_the_recovery(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    owner = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    with caplog.at_level(logging.ERROR, logger="panel.jobs"):
        job = jobs.launch("uji_meledak", owner, owner, _explodes)
    db.session.expire_all()
    assert job.status == JobStatus.FAILED and job.finished_at is not None
    assert "LookupError" in job.error and f"#{job.id}" in job.error and "jalankan lagi" in job.error.lower()
    assert SECRET_TEXT not in job.error + job.message  # the text stays in the log
    assert recovered[-1] == (job.id, job.error)
    assert any(record.exc_info for record in caplog.records)  # the traceback is in the log
    assert not jobs.unfinished(job) and jobs.running_of(("uji_meledak",), owner) is None


def test_a_job_the_reaper_failed_is_not_run_when_its_task_arrives_later(app: Flask) -> None:
    owner = factories.user([RoleKey.TECHNICIAN])
    job = Job(kind="uji_meledak", target_type="User", target_id=str(owner.id), status=JobStatus.FAILED)
    db.session.add(job)
    db.session.commit()
    assert _explodes(job.id)() == JobStatus.FAILED  # the task returned at once, raising nothing


def _running(kind: str, target: object, worker: Worker | None, **fields: object) -> Job:
    job = Job(kind=kind, target_type=type(target).__name__, target_id=str(target.id),  # type: ignore[attr-defined]
              status=JobStatus.RUNNING, worker_id=worker.id if worker else None,
              started_at=utcnow(), deadline_at=utcnow() + jobs.deadline_of(kind), **fields)
    db.session.add(job)
    db.session.commit()
    return job


def test_the_jobs_of_a_dead_worker_are_failed_and_released_when_the_panel_looks(app: Flask) -> None:
    now = utcnow()
    dead = Worker(host="node-a", pid=4242, started_at=now - timedelta(hours=1),
                  last_beat_at=now - jobs.DEAD_AFTER - timedelta(seconds=5))
    alive = Worker(host="node-b", pid=4343, started_at=now, last_beat_at=now)
    db.session.add_all([dead, alive])
    request = factories.hosting_request()
    other = factories.hosting_request()
    db.session.commit()
    orphan = _running("scan", request, dead)
    busy = _running("scan", other, alive)

    assert jobs.running_of(("scan",), request) is None  # no 409 for ever: the panel reaped it
    assert jobs.running_of(("scan",), other) == busy
    db.session.expire_all()
    assert orphan.status == JobStatus.FAILED
    assert orphan.error == "Pekerja berhenti saat menjalankan tugas ini; jalankan lagi."
    assert busy.status == JobStatus.RUNNING


def test_jobs_past_their_deadline_are_failed_queued_or_running(app: Flask) -> None:
    request = factories.hosting_request()
    db.session.commit()
    late = _running("deploy", request, None)
    late.deadline_at = utcnow() - timedelta(seconds=1)
    waiting = Job(kind="scan", target_type="HostingRequest", target_id=str(request.id),
                  deadline_at=utcnow() - timedelta(seconds=1))
    db.session.add(waiting)
    db.session.commit()

    assert not jobs.unfinished(late) and not jobs.unfinished(waiting)
    assert "melewati batas waktunya" in late.error
    assert "wadah worker" in waiting.error and waiting.status == JobStatus.FAILED


def test_an_upload_left_scanning_by_a_dead_worker_can_be_sent_again(app: Flask) -> None:
    hosted = factories.app(host=factories.host(status=HostStatus.ONLINE))
    report = factories.scan_report(verdict="clean")
    report.verdict, report.finished_at = None, None  # the scan stopped half-way
    upload = AppUpload(app=hosted, artifact_sha256=report.artifact_sha256,
                       status=UploadStatus.SCANNING, uploaded_by_id=factories.user().id)
    db.session.add(upload)
    now = utcnow()
    dead = Worker(host="node-a", pid=1, started_at=now, last_beat_at=now - timedelta(minutes=5))
    db.session.add(dead)
    db.session.commit()
    job = _running("app_upload", upload, dead)

    assert not jobs.unfinished(job)
    db.session.expire_all()
    assert upload.status == UploadStatus.FAILED and upload.reason == job.error
    assert report.verdict == "error" and report.finished_at is not None


# --- health -----------------------------------------------------------------------------------


@pytest.fixture
def queued_app(app: Flask, tmp_path: Path) -> Flask:
    """The same database, with jobs queued for a worker process instead of run in the request."""
    separate = create_app({**app.config, "JOBS_IMMEDIATE": False})
    return separate


def test_health_answers_503_naming_the_worker_until_one_beats(queued_app: Flask) -> None:
    client = queued_app.test_client()
    with queued_app.app_context():
        factories.host(name="node-sehat", status=HostStatus.ONLINE, last_seen_at=utcnow())
        db.session.commit()
        answer = client.get("/api/v1/health")
        body = conforms(answer, "/health")
        assert answer.status_code == 503 and body["down"] == ["worker"]
        assert body["checks"]["database"]["ok"] and body["checks"]["queue"]["ok"]
        assert [(h["name"], h["fresh"]) for h in body["hosts"]] == [("node-sehat", True)]
        text = answer.get_data(as_text=True)
        for secret in (queued_app.config["SECRET_KEY"], queued_app.config["SECRETS_KEY"],
                       queued_app.config["SQLALCHEMY_DATABASE_URI"], "127.0.0.1"):
            assert secret not in text

        db.session.add(Worker(host="node-a", pid=1, started_at=utcnow(), last_beat_at=utcnow()))
        db.session.commit()
        answer = client.get("/api/v1/health")
        assert answer.status_code == 200 and conforms(answer, "/health")["down"] == []


def test_health_answers_503_naming_the_database_when_it_is_gone(app: Flask, tmp_path: Path) -> None:
    broken = create_app({**app.config, "JOBS_IMMEDIATE": False,
                         "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'nope' / 'gone.db'}"})
    answer = broken.test_client().get("/api/v1/health")
    body = conforms(answer, "/health")
    assert answer.status_code == 503 and body["down"] == ["database", "worker"]
    assert "gone.db" not in answer.get_data(as_text=True)


def test_doctor_says_what_is_down_and_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADAH_STATE_DIR", str(tmp_path))
    configuration.write_instance_file(tmp_path / "panel", {})
    database.upgrade(f"sqlite:///{tmp_path / 'panel' / 'wadah.db'}")

    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    assert "[OK] database" in result.output and "[OK] queue" in result.output
    assert "[!!] worker" in result.output and "Jalankan `wadah worker`" in result.output
    english = CliRunner().invoke(main, ["doctor", "--lang", "en"])
    assert "Run `wadah worker`" in english.output and "Down: worker" in english.output
