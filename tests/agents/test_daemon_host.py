"""`wadah agent run` as a real process on the testbed, driven by the panel's client end to end:
upload, signed deploy, served through nginx; a refused deploy leaves the app serving; SIGTERM."""
from __future__ import annotations

import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from agents import defaults
from agents.protocol import AppSpec, HealthCheck, Limits
from panel.services.infra.agent_client import AgentClient, AgentRefused, AgentUnavailable
from panel.services.infra.ca import PanelCA
from tests.agents.support import AGENT, issue_agent
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningAgent:
    process: subprocess.Popen[bytes]
    client: AgentClient
    ca: PanelCA
    nginx_http: str
    log: Path


@pytest.fixture
def running_agent(testbed: dict[str, dict[str, Any]], runtime_images: dict[str, Any],
                  tmp_path: Path) -> Iterator[RunningAgent]:
    ca = PanelCA.create(tmp_path / "panel-ca")
    state = tmp_path / "agent-state"
    issue_agent(ca, state)
    nginx = testbed["nginx"]
    prefix = Path(nginx["prefix"])
    port = free_port()
    log = tmp_path / "agent.log"
    wadah = Path(sys.executable).with_name("wadah")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADAH_AGENT_")}
    with log.open("wb") as out:
        process = subprocess.Popen([
            str(wadah), "agent", "run", "--state-dir", str(state),
            "--listen", f"127.0.0.1:{port}", "--docker-url", testbed["docker"]["address"],
            "--nginx-sites-dir", nginx["sites_dir"], "--nginx-log-dir", str(prefix / "logs"),
            "--nginx-binary", nginx["binary"], "--nginx-prefix", nginx["prefix"],
            "--nginx-conf", nginx["conf"], "--nginx-pid-file", str(prefix / "run" / "nginx.pid"),
            "--nginx-listen", nginx["http"], "--nginx-probe", nginx["http"],
            "--clamd-url", testbed["clamd"]["address"],
        ], stdout=out, stderr=subprocess.STDOUT, env=env)
    client = AgentClient(f"https://127.0.0.1:{port}", AGENT, ca.client_cert_path,
                         ca.client_key_path, ca.ca_cert_path, timeout=120)
    deadline = time.monotonic() + 60
    while True:
        try:
            client.ping()
            break
        except AgentUnavailable:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the agent did not start:\n{log.read_text()}")
            time.sleep(0.2)
    running = RunningAgent(process, client, ca, nginx["http"], log)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        client.close()


def test_the_panel_deploys_through_a_running_agent(running_agent: RunningAgent,
                                                  docker_client: docker.DockerClient) -> None:
    client, ca = running_agent.client, running_agent.ca
    name = f"e2e-{secrets.token_hex(3)}"
    fqdn = f"{name}.contoh.go.id"
    bundle = tar_gz({"index.html": f"<h1>Halo dari {name}</h1>\n"})
    import hashlib

    sha = hashlib.sha256(bundle).hexdigest()
    client.upload_artifact(io.BytesIO(bundle), sha)
    spec = AppSpec(name=name, fqdn=fqdn, stack="static", release_id=1, artifact_sha256=sha,
                   limits=Limits(memory_mb=64, cpus=0.5, pids=64),
                   health=HealthCheck(attempts=40, interval_s=0.1, timeout_s=2.0))
    try:
        result = client.deploy(spec, "clean", ca.sign_release(name, 1, sha, "clean"))
        assert result["app"] == name and result["release_id"] == 1
        served = fetch(running_agent.nginx_http, fqdn)
        # The shared testbed's nginx is reloaded by other tests too: say what was served, and why.
        assert served == (200, f"<h1>Halo dari {name}</h1>\n"), (
            served, running_agent.log.read_text()[-3000:])
        assert name in client.facts()["apps_running"]

        # A release the scanner called infected: refused, and release 1 keeps serving.
        bad = tar_gz({"index.html": "slot gacor"})
        bad_sha = hashlib.sha256(bad).hexdigest()
        client.upload_artifact(io.BytesIO(bad), bad_sha)
        infected = AppSpec(name=name, fqdn=fqdn, stack="static", release_id=2,
                           artifact_sha256=bad_sha)
        from agents.protocol import sign_release

        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(infected, "infected",
                          sign_release(ca.release_key, name, 2, bad_sha, "infected"))
        assert excinfo.value.code == "verdict_refused"
        assert client.status(name)["release_id"] == 1
        assert fetch(running_agent.nginx_http, fqdn)[1] == f"<h1>Halo dari {name}</h1>\n"

        # Its container killed: the agent follows Docker's events and brings it back long before
        # the periodic reconcile (5 minutes) would.
        (container,) = docker_client.containers.list(
            filters={"label": f"{defaults.LABEL_APP}={name}"})
        container.kill()
        deadline = time.monotonic() + 30
        while fetch(running_agent.nginx_http, fqdn)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fetch(running_agent.nginx_http, fqdn) == (200, f"<h1>Halo dari {name}</h1>\n"), (
            running_agent.log.read_text()[-3000:])
    finally:
        client.remove(name)

    # SIGTERM: a warm stop, a clean exit.
    running_agent.process.send_signal(signal.SIGTERM)
    assert running_agent.process.wait(60) == 0
    log = running_agent.log.read_text()
    assert "warm" in log and "agent stopped" in log
