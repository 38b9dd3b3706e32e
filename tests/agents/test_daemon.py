"""The agent daemon: signals (warm, then cold), heartbeat, periodic reconcile, connection limits,
the `wadah agent` command and the systemd unit."""
from __future__ import annotations

import configparser
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agents.api import AgentAPI, NonceLedger
from agents.daemon import AgentDaemon, AgentServer
from agents.protocol.artifacts import ArtifactStore
from panel.services.infra.agent_client import AgentClient, AgentUnavailable
from tests.agents.support import AGENT, RecordingHost, issue_agent
from tests.support import unavailable

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "wadah-agent.service"


class SlowHost(RecordingHost):
    """facts() takes as long as the test says; reconcile() and rotate_logs() may fail."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.reconcile_fails = False

    def facts(self) -> dict[str, Any]:
        self.entered.set()
        self.release.wait(30)
        return super().facts()

    def reconcile(self) -> dict[str, Any]:
        result = super().reconcile()
        if self.reconcile_fails:
            raise RuntimeError("docker is down")
        return result

    def rotate_logs(self) -> list[Path]:
        self._record("rotate_logs")
        if self.reconcile_fails:
            raise RuntimeError("nginx is down")
        return []


class Rig:
    def __init__(self, tmp: Path, host: RecordingHost, **daemon_options: Any) -> None:
        from panel.services.infra.ca import PanelCA

        self.ca = PanelCA.create(tmp / "panel-ca")
        self.state = tmp / "agent-state"
        credentials = issue_agent(self.ca, self.state)
        self.host = host
        self.nonces = NonceLedger(self.state / "nonces.sqlite3")
        api = AgentAPI(host, ArtifactStore(self.state / "artifacts"), self.nonces,
                       credentials.agent_name, credentials.release_public_key())
        self.server = AgentServer("127.0.0.1", 0, api, credentials.server_context(),
                                  handshake_timeout=daemon_options.pop("handshake_timeout", 2.0),
                                  max_connections=daemon_options.pop("max_connections", 8))
        self.daemon = AgentDaemon(self.server, host, self.nonces, self.state, **daemon_options)

    def client(self) -> AgentClient:
        return AgentClient(self.server.url, AGENT, self.ca.client_cert_path,
                           self.ca.client_key_path, self.ca.ca_cert_path, timeout=10)

    def refuses_connections(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.server.port), timeout=1).close()
        except OSError:
            return True
        return False


def later(seconds: float, action: Callable[[], Any]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


def sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_stops_the_daemon_warm_and_tears_down(tmp_path: Path) -> None:
    rig = Rig(tmp_path, RecordingHost(), heartbeat_s=0.05)
    before = signal.getsignal(signal.SIGTERM)
    answers: list[Any] = []

    def call_then_stop() -> None:
        with rig.client() as client:
            answers.append(client.ping())
        sigterm()

    later(0.3, call_then_stop)
    started = time.monotonic()
    rig.daemon.run()  # in the main thread: it installs its handlers
    assert time.monotonic() - started < 10
    assert answers and answers[0]["agent"] == AGENT
    assert rig.host.calls[0] == ("reconcile",)  # reconciled at start
    assert (rig.state / "heartbeat").read_text().strip().isdigit()
    assert signal.getsignal(signal.SIGTERM) is before
    assert rig.refuses_connections()


class GuardedHost(RecordingHost):
    """Has the app network's firewall (Host.protect_network), which may fail."""

    def __init__(self, fails: bool) -> None:
        super().__init__()
        self.fails = fails

    def protect_network(self) -> None:
        self.calls.append(("protect_network",))
        if self.fails:
            raise RuntimeError("iptables is missing")


@pytest.mark.parametrize("fails", [False, True])
def test_the_app_network_is_protected_before_the_api_serves(tmp_path: Path, fails: bool) -> None:
    rig = Rig(tmp_path, GuardedHost(fails), heartbeat_s=0.05)
    answers: list[Any] = []

    def call_then_stop() -> None:
        with rig.client() as client:
            answers.append(client.ping())
        rig.daemon.request_stop()

    later(0.3, call_then_stop)
    rig.daemon.run()
    assert rig.host.calls[:2] == [("protect_network",), ("reconcile",)]
    assert answers and answers[0]["agent"] == AGENT  # a failure is logged; the API still serves


def test_a_warm_stop_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    host = SlowHost()
    rig = Rig(tmp_path, host, heartbeat_s=0.05)
    outcome: list[Any] = []

    def slow_request() -> None:
        try:
            with rig.client() as client:
                outcome.append(client.facts())
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    later(0.2, lambda: threading.Thread(target=slow_request, daemon=True).start())

    def stop_while_busy() -> None:
        host.entered.wait(10)
        sigterm()
        later(0.5, host.release.set)  # the request finishes after the stop began

    later(0.2, stop_while_busy)
    rig.daemon.run()
    deadline = time.monotonic() + 5
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outcome == [{"hostname": "test-host", "apps": []}]


def test_a_second_signal_stops_cold(tmp_path: Path) -> None:
    host = SlowHost()  # never released until the end: a request stuck forever
    rig = Rig(tmp_path, host, heartbeat_s=0.05, warm_stop_timeout_s=30)

    def stuck_request() -> None:
        try:
            with rig.client() as client:
                client.facts()
        except Exception:  # noqa: BLE001, S110 - the cold stop abandons it
            pass

    later(0.2, lambda: threading.Thread(target=stuck_request, daemon=True).start())

    def stop_twice() -> None:
        host.entered.wait(10)
        sigterm()
        later(0.5, sigterm)

    later(0.2, stop_twice)
    started = time.monotonic()
    try:
        rig.daemon.run()
        assert time.monotonic() - started < 10  # not the 30 s of a warm stop
        assert rig.refuses_connections()
    finally:
        host.release.set()


def test_the_heartbeat_reconciles_and_rotates_periodically_and_survives_failures(
        tmp_path: Path) -> None:
    host = SlowHost()
    host.reconcile_fails = True
    rig = Rig(tmp_path, host, heartbeat_s=0.02, reconcile_interval_s=0.05, rotate_interval_s=0.05)
    rig.nonces.remember("e" * 32, expires_at=1)  # long expired
    later(0.6, rig.daemon.request_stop)
    rig.daemon.run()
    assert host.calls.count(("reconcile",)) >= 3
    assert host.calls.count(("rotate_logs",)) >= 3
    # Pruned by the heartbeat: the expired nonce is gone, so it could be recorded again.
    ledger = NonceLedger(rig.state / "nonces.sqlite3")
    assert ledger.remember("e" * 32, expires_at=time.time() + 60)
    ledger.close()


def test_connections_beyond_the_limit_are_closed(tmp_path: Path) -> None:
    rig = Rig(tmp_path, RecordingHost(), heartbeat_s=0.05, max_connections=1,
              handshake_timeout=5.0)
    thread = threading.Thread(target=rig.daemon.run, daemon=True)
    thread.start()
    try:
        silent = socket.create_connection(("127.0.0.1", rig.server.port))
        time.sleep(0.2)  # its thread now waits for a handshake, holding the only slot
        with rig.client() as client:
            with pytest.raises(AgentUnavailable):
                client.ping()
            silent.close()
            time.sleep(0.2)
            assert client.ping()["agent"] == AGENT
    finally:
        rig.daemon.request_stop()
        thread.join(10)
    assert not thread.is_alive()


# --- the command and the unit --------------------------------------------------------------------


def test_wadah_agent_help_works() -> None:
    wadah = Path(sys.executable).with_name("wadah")
    shown = {}
    for command in ("", "run", "enroll", "images", "identity"):
        args = ["agent", *command.split(), "--help"]
        result = subprocess.run([str(wadah), *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        shown[command] = result.stdout
    assert {"run", "enroll", "images"} <= set(shown[""].split())
    assert "WADAH_AGENT_STATE_DIR" in shown["run"]


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_the_unit_runs_the_agent_sandboxed() -> None:
    service = _unit()["Service"]
    assert service["ExecStart"].endswith("wadah agent run")
    for directive, value in {
        "ProtectSystem": "strict", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        # AF_NETLINK: iptables-nft changes the app network's chains over netlink.
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "ProtectHome": "yes", "StateDirectory": "wadah-agent", "KillSignal": "SIGTERM",
    }.items():
        assert service[directive] == value, directive
    assert "/etc/nginx/conf.d" in service["ReadWritePaths"].split()
    assert "CAP_SYS_ADMIN" not in service["CapabilityBoundingSet"]
    assert "CAP_NET_ADMIN" in service["CapabilityBoundingSet"].split()  # agents/firewall.py
    # Without CAP_SYS_ADMIN, PID 1 mounts the apps' data volumes in the host's namespace.
    assert "WADAH_AGENT_VOLUME_MOUNTER=systemd" in service["Environment"].split()
    # The warm stop must fit in systemd's patience.
    from agents import defaults

    assert defaults.WARM_STOP_TIMEOUT_S < int(service["TimeoutStopSec"])


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("needs systemd-analyze (Debian's systemd package)")
    unit = tmp_path / "wadah-agent.service"
    wadah = Path(sys.executable).with_name("wadah")
    unit.write_text(UNIT.read_text().replace("/opt/wadah/venv/bin/wadah", str(wadah)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "wadah-agent.service" not in result.stderr, result.stderr
