"""`wadah up` runs the panel's processes: started once, reused after, and refused cleanly."""
from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from panel import config as configuration
from panel import database, embedded
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
