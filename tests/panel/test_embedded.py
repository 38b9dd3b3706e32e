"""`wadah up` runs the panel's processes: started once, reused after, and refused cleanly."""
from __future__ import annotations

import os
import socket
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from panel import config as configuration
from panel import create_app, database, embedded, gateway
from panel.extensions import db
from panel.testbed.errors import TestbedError

PANEL = ["web", "worker"]  # the agent has its own tests (tests/agents)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    instance = tmp_path / "panel"
    configuration.write_instance_file(instance, {"SESSION_COOKIE_SECURE": False})
    database.upgrade(f"sqlite:///{instance / 'wadah.db'}")
    return tmp_path


def _processes(state: Path, port: int):  # type: ignore[no-untyped-def]
    return embedded.Testbed(state, ports={"web": port}, services=embedded.PANEL_PROCESSES,
                            subdir=embedded.RUN_SUBDIR)


def test_processes_start_once_and_are_reused(state: Path) -> None:
    port = _free_port()
    processes = _processes(state, port)
    try:
        first = processes.up(PANEL)
        assert first["web"]["started"] and first["worker"]["started"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as answer:
            assert answer.status == 200
        second = processes.up(PANEL)
        assert not second["web"]["started"] and not second["worker"]["started"]
        assert second["web"]["pid"] == first["web"]["pid"]
    finally:
        outcome = processes.down(PANEL)
    assert outcome == {"worker": "stopped", "web": "stopped"}
    assert not any(entry["running"] for entry in processes.status().values())


def test_port_taken_names_the_process_and_its_log_and_leaves_nothing(state: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        processes = _processes(state, squatter.getsockname()[1])
        with pytest.raises(TestbedError) as refused:
            processes.up(PANEL)
    message = str(refused.value)
    assert "web" in message and "already in use" in message
    assert str(state / "run" / "web" / "web.log") in message
    assert not any(entry["running"] for entry in processes.status().values())


# --- secrets on disk ---------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o777


@pytest.fixture
def usual_umask() -> Iterator[None]:
    # The usual 022: whatever is private here is so because the code made it so.
    before = os.umask(0o022)
    yield
    os.umask(before)


def _make_instance(state: Path) -> Path:
    """Make the panel's part of the embedded state as `wadah up` does, minus the services."""
    instance = state / "panel"
    configuration.write_instance_file(instance, {"SESSION_COOKIE_SECURE": False})
    embedded._prepare_database(instance)  # migrates, seeds, keeps the demo logins
    embedded._prepare_ca(instance)
    app = create_app({"INSTANCE_PATH": str(instance)})
    with app.app_context():
        gateway.agents(app).enrolments.issue_token(embedded.LOCAL_HOST, ["127.0.0.1"])
        db.session.remove()
    return instance


SECRET_FILES = ("wadah.toml", "wadah.db", "jobs.db", embedded.DEMO_LOGINS, "ca/ca.key", "ca/panel.key",
                "ca/release-signing.key", "ca/enrolment-tokens.sqlite3")


def test_a_fresh_instance_keeps_its_secrets_owner_only(tmp_path: Path, usual_umask: None) -> None:
    instance = _make_instance(tmp_path)
    assert "SECRETS_KEY" in (instance / "wadah.toml").read_text()
    assert {name: _mode(instance / name) for name in SECRET_FILES} == dict.fromkeys(SECRET_FILES, 0o600)
    assert (_mode(instance), _mode(instance / "ca")) == (0o700, 0o700)


def test_loose_secret_files_are_tightened_when_the_panel_starts(tmp_path: Path, usual_umask: None) -> None:
    instance = _make_instance(tmp_path)
    for name in SECRET_FILES:
        (instance / name).chmod(0o644)
    instance.chmod(0o755)
    (instance / "ca").chmod(0o755)
    with sqlite3.connect(instance / "wadah.db") as connection:  # a side file as SQLite leaves it
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS catatan (x)")
        side_files = [instance / "wadah.db-wal", instance / "wadah.db-shm"]
        for side in side_files:
            side.chmod(0o644)
        app = create_app({"INSTANCE_PATH": str(instance)})  # what every process does as it starts
        with app.app_context():
            assert gateway.agents(app).enrolments.ca.ca_sha256  # using the CA tightens its files
            db.session.remove()
        assert {p.name: _mode(p) for p in side_files} == {p.name: 0o600 for p in side_files}
        connection.execute("PRAGMA journal_mode=DELETE")
    assert {name: _mode(instance / name) for name in SECRET_FILES} == dict.fromkeys(SECRET_FILES, 0o600)
    assert (_mode(instance), _mode(instance / "ca")) == (0o700, 0o700)
