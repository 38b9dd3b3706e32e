"""A real `wadah agent run` process on the testbed, enrolled with a test panel's CA."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.credentials import AgentCredentials, make_csr, new_agent_key
from panel.extensions import db
from panel.models import Host
from panel.services.infra import hosts
from panel.services.infra.agent_client import AgentUnavailable
from panel.services.infra.gateway import AgentGateway


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_agent(agents: AgentGateway, name: str, testbed: dict[str, dict[str, Any]],
                  tmp_path: Path, mariadb_admin: dict[str, Any] | None = None, *,
                  panel_url: str | None = None, address: str = "127.0.0.1",
                  nginx: dict[str, Any] | None = None,
                  validity: timedelta | None = None) -> Iterator[Host]:
    """Register a host, enrol its agent as `wadah agent enroll` would, run it; yield the host.

    With `mariadb_admin` the agent gives apps that ask for one a database on the testbed's MariaDB.
    With `panel_url` (a panel serving on loopback) the enrolment is committed, so the agent can
    renew its certificate there; `validity` is its first certificate's. `nginx` replaces the
    testbed's nginx (same keys), for a second host.
    """
    port = free_port()
    agents.create_ca()  # unless the panel has one already, as after `wadah up`
    host, token = hosts.add_host(agents, name, address, port, None)
    key = new_agent_key()
    enrolments = agents.enrolments
    if validity is not None:
        enrolments.validity = validity
    enrolled = enrolments.redeem(token, make_csr(key, name))
    hosts.record_enrolment(enrolled)
    if panel_url is not None:
        db.session.commit()
    state = tmp_path / f"agent-{name}"
    AgentCredentials(state).save(key, enrolled.bundle, agents.ca.ca_sha256,
                                 panel_url or "http://127.0.0.1")
    nginx = nginx or testbed["nginx"]
    prefix = Path(nginx["prefix"])
    log = tmp_path / f"agent-{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WADAH_AGENT_")}
    database: list[str] = []
    if mariadb_admin is not None:  # the password goes through the environment, as in production
        env["WADAH_AGENT_MARIADB_PASSWORD"] = mariadb_admin["password"]
        database = ["--mariadb-user", mariadb_admin["user"], "--mariadb-host", mariadb_admin["host"],
                    "--mariadb-port", str(mariadb_admin["port"]), "--mariadb-socket", "/nonexistent",
                    "--mariadb-app-socket", testbed["mariadb"]["socket"]]
    with log.open("wb") as out:
        process = subprocess.Popen([
            str(Path(sys.executable).with_name("wadah")), "agent", "run", "--state-dir", str(state),
            "--listen", f"{address}:{port}", "--docker-url", testbed["docker"]["address"],
            "--nginx-sites-dir", nginx["sites_dir"], "--nginx-log-dir", str(prefix / "logs"),
            "--nginx-binary", nginx["binary"], "--nginx-prefix", nginx["prefix"],
            "--nginx-conf", nginx["conf"], "--nginx-pid-file", str(prefix / "run" / "nginx.pid"),
            "--nginx-listen", nginx["http"], "--nginx-probe", nginx["http"],
            "--clamd-url", testbed["clamd"]["address"], *database,
        ], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with agents.client(host) as client:
                    client.ping()
                break
            except AgentUnavailable:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the agent did not start:\n{log.read_text()}")
                time.sleep(0.2)
                if panel_url is not None:
                    db.session.refresh(host)  # it may have renewed its certificate meanwhile
        yield host
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
