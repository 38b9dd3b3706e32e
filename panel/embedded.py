"""`wadah up`: the embedded defaults on one machine — local services, runtime images, database,
demo data, and the panel's web, worker and agent processes.

The panel's processes are run by the same lifecycle as the testbed's daemons (pid files, ports,
logs, readiness probes, rollback of a half-done start).
"""
from __future__ import annotations

import http.client
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from panel import config as configuration
from panel import private_files
from panel.testbed import Testbed
from panel.testbed.errors import TestbedError
from panel.testbed.services import Service

logger = logging.getLogger(__name__)

RUN_SUBDIR = "run"
WEB_PORT_ENV_VAR = "WADAH_WEB_PORT"
AGENT_PORT_ENV_VAR = "WADAH_LOCAL_AGENT_PORT"
DEMO_LOGINS = "demo-logins.txt"


class PanelProcess(Service):
    """A `wadah` subcommand run in the background for the embedded setup."""

    executable: ClassVar[str] = sys.executable
    arguments: ClassVar[tuple[str, ...]] = ()

    @property
    def state_dir(self) -> Path:
        return self.dir.parent.parent

    def marker(self) -> str:
        return f"--state-dir {self.state_dir} {self.arguments[0]}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "panel.cli", "--state-dir", str(self.state_dir),
                *self.arguments, *self.options()]

    def options(self) -> list[str]:
        return []

    def address(self) -> str:
        return self.tcp if self.port else "-"


class Web(PanelProcess):
    name = "web"
    arguments = ("web",)

    def options(self) -> list[str]:
        return ["--bind", self.tcp, "--workers", "2"]

    def probe(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/api/v1/health")
            # 503 is the web answering that something else (e.g. the worker, started next) is down.
            if connection.getresponse().status not in (200, 503):
                raise ConnectionError("panel not answering")
        finally:
            connection.close()

    def extras(self) -> dict[str, Any]:
        return {"url": f"http://{self.tcp}/"}


class Worker(PanelProcess):
    name = "worker"
    arguments = ("worker",)

    def probe(self) -> None:
        pid = self.running_pid()
        if pid is None:
            raise ConnectionError("worker not running")
        if not _beating(self.state_dir / "panel", pid):  # ready once it recorded its first heartbeat
            raise ConnectionError("worker has no heartbeat yet")


class Agent(PanelProcess):
    """The local host agent; its settings come from WADAH_AGENT_* variables set by `up`."""

    name = "agent"
    arguments = ("agent", "run")
    settings: ClassVar[dict[str, str]] = {}  # WADAH_AGENT_*, only this process gets them

    def environment(self) -> dict[str, str] | None:
        return {**os.environ, **self.settings}

    def options(self) -> list[str]:
        return ["--listen", self.tcp]

    def probe(self) -> None:
        socket.create_connection(("127.0.0.1", self.port), timeout=2).close()


PANEL_PROCESSES: tuple[type[Service], ...] = (Web, Worker, Agent)
LOCAL_HOST = "lokal"


def processes(state_dir: Path) -> Testbed:
    ports = {"web": int(os.environ.get(WEB_PORT_ENV_VAR, 8000)),
             "agent": int(os.environ.get(AGENT_PORT_ENV_VAR, 17443))}
    return Testbed(state_dir, ports=ports, services=PANEL_PROCESSES, subdir=RUN_SUBDIR)


def up(state_dir: Path, echo: Callable[[str], None]) -> None:
    """Bring the whole embedded setup up, reusing whatever already runs; print URL and logins."""
    echo("==> Layanan lokal (Docker, nginx, clamd, BIND, MariaDB, PostgreSQL, Redis)")
    services = Testbed(state_dir).up()
    _report(services, echo)

    echo("==> Image runtime (wadah/static, wadah/php:8.2)")
    _wadah(state_dir, "agent", "images", "--docker-url", services["docker"]["address"],
           "--state-dir", str(state_dir / "agent"))

    echo("==> Basis data dan data contoh")
    instance = state_dir / "panel"
    configuration.write_instance_file(instance, {
        "SESSION_COOKIE_SECURE": False,  # plain HTTP on loopback; production sits behind TLS
        "REMEMBER_COOKIE_SECURE": False,
        "DNS_SERVER": services["named"]["address"],
        "NGINX_HTTP": services["nginx"]["http"],
        "CLAMD_URL": services["clamd"]["address"],
    })
    logins = _prepare_database(instance)
    _prepare_ca(instance)

    echo("==> Panel (web, worker) dan agen lokal")
    panel = processes(state_dir)
    started = panel.up(["web", "worker"])
    _configure_local_agent(state_dir, services)
    _enrol_local_agent(state_dir, instance, panel)
    started.update(panel.up(["agent"]))
    _report(started, echo)
    _register_local_services(instance, services, state_dir)

    echo(f"\nWadah berjalan di {started['web']['url']}")
    echo("Aplikasi yang di-hosting dijawab nginx di http://" + services["nginx"]["http"]
         + "/ menurut nama host (<subdomain>.contoh.go.id).")
    echo("Login contoh (juga di " + str(instance / DEMO_LOGINS) + "):")
    echo(logins)


def down(state_dir: Path, everything: bool, echo: Callable[[str], None]) -> None:
    """Stop the panel's processes, and the local services too when `everything`."""
    for name, outcome in processes(state_dir).down().items():
        echo(f"{name:<9} {outcome}")
    if everything:
        for name, outcome in Testbed(state_dir).down().items():
            echo(f"{name:<9} {outcome}")


def _beating(instance: Path, pid: int) -> bool:
    from sqlalchemy import select

    from panel import create_app
    from panel.extensions import db
    from panel.models import Worker

    with create_app({"INSTANCE_PATH": str(instance)}).app_context():
        return db.session.scalar(select(Worker.id).where(Worker.pid == pid).limit(1)) is not None


def _prepare_database(instance: Path) -> str:
    from panel import create_app, database
    from panel.extensions import db
    from panel.services.accounts import demo
    from panel.services.requests import workflow, working_time

    app = create_app({"INSTANCE_PATH": str(instance)})
    database.upgrade(app.config["SQLALCHEMY_DATABASE_URI"])
    with app.app_context():
        workflow.ensure_builtin_templates()
        working_time.ensure_seeded()
        try:
            created = demo.seed(production=bool(app.config["PRODUCTION"]))
        except demo.DemoRefused as refused:
            raise TestbedError(None, str(refused)) from refused
        db.session.commit()
    logins_file = instance / DEMO_LOGINS
    new_lines = [f"  {login.role:<12} {login.username:<12} {login.password}"
                 for login in created if login.password]
    if new_lines:  # kept so a later `up` can show them again; the demo only, never production
        fd = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write("\n".join(new_lines) + "\n")
    private_files.tighten(logins_file)
    return logins_file.read_text().rstrip() if logins_file.exists() else "(tidak ada)"


def _prepare_ca(instance: Path) -> None:
    """Make the panel's CA unless it exists: `wadah up` is one of the paths that may."""
    from panel import create_app, gateway

    gateway.agents(create_app({"INSTANCE_PATH": str(instance)})).create_ca()


def _configure_local_agent(state_dir: Path, services: dict[str, dict[str, Any]]) -> None:
    # The agent's own CLI reads WADAH_AGENT_*; the MariaDB password goes to no other process.
    nginx, mariadb = services["nginx"], services["mariadb"]
    prefix = Path(nginx["prefix"])
    Agent.settings.update({
        "WADAH_AGENT_STATE_DIR": str(state_dir / "agent"),
        "WADAH_AGENT_DOCKER_URL": services["docker"]["address"],
        "WADAH_AGENT_NGINX_SITES_DIR": nginx["sites_dir"],
        "WADAH_AGENT_NGINX_LOG_DIR": str(prefix / "logs"),
        "WADAH_AGENT_NGINX_BINARY": nginx["binary"],
        "WADAH_AGENT_NGINX_PREFIX": nginx["prefix"],
        "WADAH_AGENT_NGINX_CONF": nginx["conf"],
        "WADAH_AGENT_NGINX_PID_FILE": str(prefix / "run" / "nginx.pid"),
        "WADAH_AGENT_NGINX_LISTEN": nginx["http"],
        "WADAH_AGENT_NGINX_PROBE": nginx["http"],
        "WADAH_AGENT_MARIADB_USER": mariadb["admin_user"],
        "WADAH_AGENT_MARIADB_PASSWORD": Testbed(state_dir).credentials()["mariadb"]["admin_password"],
        "WADAH_AGENT_MARIADB_SOCKET": mariadb["socket"],
        "WADAH_AGENT_MARIADB_HOST": mariadb["tcp"].rpartition(":")[0],
        "WADAH_AGENT_MARIADB_PORT": mariadb["tcp"].rpartition(":")[2],
        "WADAH_AGENT_CLAMD_URL": services["clamd"]["address"],  # the watcher scans with it
    })


def _enrol_local_agent(state_dir: Path, instance: Path, panel: Testbed) -> None:
    """Enrol the local agent with the panel once, exactly as a technician enrols a new host."""
    from panel import create_app, gateway
    from panel.extensions import db
    from panel.models import Host
    from panel.services.infra import hosts

    agent_dir = state_dir / "agent"
    if (agent_dir / "tls" / "agent.crt").exists():
        return
    agent_port = panel.services["agent"].port
    assert agent_port is not None  # processes() always gives the agent a port
    app = create_app({"INSTANCE_PATH": str(instance)})
    with app.app_context():
        agents = gateway.agents(app)
        if db.session.query(Host).filter_by(name=LOCAL_HOST).first() is None:
            _, token = hosts.add_host(agents, LOCAL_HOST, "127.0.0.1", agent_port, None)
        else:
            token = agents.enrolments.issue_token(LOCAL_HOST, ["127.0.0.1"])
        db.session.commit()
        ca_sha256 = agents.ca.ca_sha256
    web = f"http://{panel.services['web'].tcp}"
    # The token travels in the environment, not on a command line other users can read.
    _wadah(state_dir, "agent", "enroll", "--panel", web, "--ca-sha256", ca_sha256,
           "--state-dir", str(agent_dir), "--force", env={"WADAH_AGENT_TOKEN": token})


def _register_local_services(instance: Path, services: dict[str, dict[str, Any]], state_dir: Path) -> None:
    """Record the testbed's DNS zone and the local host's capacity, as an administrator would."""
    from sqlalchemy import select

    from panel import create_app, gateway
    from panel.extensions import db
    from panel.models import Host, Zone
    from panel.services.infra import hosts

    named = services["named"]
    app = create_app({"INSTANCE_PATH": str(instance)})
    with app.app_context():
        if db.session.scalar(select(Zone).where(Zone.name == named["zone"])) is None:
            db.session.add(Zone(
                name=named["zone"], primary_server=named["address"], tsig_key_name=named["tsig_key_name"],
                tsig_algorithm=named["tsig_algorithm"],
                tsig_secret=Testbed(state_dir).credentials()["named"]["tsig_secret"],
                record_ip=services["nginx"]["http"].rpartition(":")[0]))
        host = db.session.scalar(select(Host).where(Host.name == LOCAL_HOST))
        if host is not None:
            hosts.refresh_facts(gateway.agents(app), host)
        db.session.commit()


def _wadah(state_dir: Path, *arguments: str, env: dict[str, str] | None = None) -> None:
    # The agent's commands run in their own process: the panel does not import the agent.
    subprocess.run([sys.executable, "-m", "panel.cli", "--state-dir", str(state_dir), *arguments],
                   check=True, env={**os.environ, **(env or {})})


def _report(result: dict[str, dict[str, Any]], echo: Callable[[str], None]) -> None:
    for name, entry in result.items():
        action = "dijalankan" if entry.get("started") else "sudah berjalan"
        echo(f"  {name:<9} {action:<15} {entry['address']}")
