"""Helpers the agent test modules share: a HostAgent on the testbed, and an agent API over real TLS."""
from __future__ import annotations

import hashlib
import http.client
import io
import secrets
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from agents import protocol
from agents.api import AgentAPI, NonceLedger
from agents.credentials import AgentCredentials, make_csr, new_agent_key
from agents.daemon import AgentServer, build_api_server
from agents.databases import MariaDBSettings
from agents.host import HostAgent
from agents.protocol import AppSpec, HealthCheck, Limits
from agents.protocol.artifacts import ArtifactStore
from agents.vhosts import NginxSettings
from panel.services.infra.agent_client import AgentClient, AgentRefused
from panel.services.infra.ca import PanelCA
from panel.services.infra.enrolment import Enrolments, SqliteEnrolmentTokens

# --- a HostAgent on the testbed -------------------------------------------------------------------

FAST = HealthCheck(attempts=40, interval_s=0.1, timeout_s=2.0)
SMALL = Limits(memory_mb=96, cpus=0.5, pids=64)


def nginx_settings(testbed: dict[str, dict[str, Any]], **overrides: Any) -> NginxSettings:
    nginx = testbed["nginx"]
    prefix = Path(nginx["prefix"])
    settings: dict[str, Any] = dict(
        sites_dir=Path(nginx["sites_dir"]), log_dir=prefix / "logs", binary=nginx["binary"],
        prefix=nginx["prefix"], conf=nginx["conf"], pid_file=prefix / "run" / "nginx.pid",
        listen=nginx["http"], probe=nginx["http"])
    settings.update(overrides)
    return NginxSettings(**settings)


def make_host(testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
              mariadb_admin: dict[str, Any], root: Path, **nginx: Any) -> HostAgent:
    """Return a HostAgent on the testbed with its state (and artifact store) under `root`."""
    mariadb = MariaDBSettings(user=mariadb_admin["user"], password=mariadb_admin["password"],
                              host=mariadb_admin["host"], port=mariadb_admin["port"],
                              app_socket=Path(testbed["mariadb"]["socket"]))
    return HostAgent(docker_client, nginx_settings(testbed, **nginx), root / "agent",
                ArtifactStore(root / "artifacts"), mariadb)


def remove_everything(host: HostAgent) -> None:
    """Remove every app of `host` and check that nothing it owns is left on Docker or nginx."""
    for status in host.apps():
        host.remove(status.name)
    host.reconcile()
    assert host.runtime.owned() == []
    assert host.runtime.owned_networks() == {}
    assert host.vhosts.owned() == {}


def unique(prefix: str) -> str:
    """Return an app name unique to this run, so parallel and repeated runs never collide."""
    return f"{prefix}-{secrets.token_hex(3)}"


def archive(files: dict[str, str | bytes], links: dict[str, str] | None = None) -> bytes:
    """Return a tar.gz of `files` (path → content) and, for bad-input tests, symlinks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def put(host: HostAgent, files: dict[str, str | bytes], links: dict[str, str] | None = None) -> str:
    sha256, _ = host.artifacts.put(io.BytesIO(archive(files, links)), max_bytes=64 * 1024 * 1024)
    return sha256


def spec(host: HostAgent, name: str, release_id: int, files: dict[str, str | bytes] | None = None,
         *, stack: str = "php", sha256: str | None = None, **fields: Any) -> AppSpec:
    sha256 = sha256 or put(host, files or {})
    fields.setdefault("health", FAST)
    fields.setdefault("limits", SMALL)
    return AppSpec(name=name, fqdn=f"{name}.contoh.go.id", stack=stack, release_id=release_id,
                   artifact_sha256=sha256, **fields)


def php_release(marker: str) -> dict[str, str | bytes]:
    return {"index.php": f"<?php echo 'rilis {marker} ', getenv('SAPAAN') ?: '-', \"\\n\";\n"}


def fetch(host: HostAgent, fqdn: str, path: str = "/", method: str = "GET",
          body: bytes | None = None) -> tuple[int, str, dict[str, str]]:
    """Send a request through the testbed's nginx with Host `fqdn`."""
    address, _, port = host.vhosts.settings.probe.rpartition(":")
    conn = http.client.HTTPConnection(address, int(port), timeout=15)
    try:
        conn.request(method, path, body=body, headers={"Host": fqdn})
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, text, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def containers_of(docker_client: docker.DockerClient, app: str) -> list[Any]:
    return docker_client.containers.list(all=True, filters={"label": f"org.wadah.app={app}"})


# --- an agent API on 127.0.0.1, behind real TLS, with a recording host -----------------------------

AGENT = "agent-1"
BUILT_IMAGE = "sha256:" + "ab" * 32  # what the recording host says a build made


class RecordingHost:
    """Stands in for the host operations; records every call so tests can assert none happened."""

    def __init__(self, state: Path | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: Exception | None = None
        self.state = state or Path("/nonexistent")  # where build outputs are, for build_output

    def _record(self, *call: Any) -> None:
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail

    def facts(self) -> dict[str, Any]:
        self._record("facts")
        return {"hostname": "test-host", "apps": []}

    def reconcile(self) -> dict[str, Any]:
        self._record("reconcile")
        return {"changed": []}

    def deploy(self, spec: protocol.AppSpec, image_id: str | None = None) -> dict[str, Any]:
        self._record(*(("deploy", spec) if image_id is None else ("deploy", spec, image_id)))
        return {"app": spec.name, "release_id": spec.release_id}

    def build(self, spec: protocol.AppSpec) -> dict[str, Any]:
        self._record("build", spec)
        return {"app": spec.name, "release_id": spec.release_id, "image_id": BUILT_IMAGE}

    def build_output(self, name: str, release_id: int) -> Path:
        self._record("build_output", name, release_id)
        path = self.state / f"{name}-{release_id}.tar"
        if not path.is_file():
            from agents.errors import UnknownBuild

            raise UnknownBuild(f"build rilis {release_id} aplikasi {name} tidak ada di host ini")
        return path

    def discard_build(self, name: str, release_id: int) -> None:
        self._record("discard_build", name, release_id)

    def set_env(self, name: str, env: dict[str, str]) -> dict[str, Any]:
        self._record("set_env", name, env)
        return {"app": name}

    def set_storage(self, name: str, storage_mb: int) -> dict[str, Any]:
        self._record("set_storage", name, storage_mb)
        return {"name": name, "storage_mb": storage_mb}

    def stop(self, name: str) -> dict[str, Any]:
        self._record("stop", name)
        return {"app": name, "state": "stopped"}

    def logs(self, name: str, tail: int, since: int | None, source: str) -> str:
        self._record("logs", name, tail, since, source)
        return "line\n"


def issue_agent(ca: PanelCA, state_dir: Path, name: str = AGENT,
                addresses: tuple[str, ...] = ("127.0.0.1", "localhost")) -> AgentCredentials:
    """Enrol an agent the way `wadah agent enroll` does, without the HTTP hop."""
    enrolments = Enrolments(ca, SqliteEnrolmentTokens(ca.directory / "tokens.sqlite3"))
    token = enrolments.issue_token(name, addresses)
    key = new_agent_key()
    enrolled = enrolments.redeem(token, make_csr(key, name))
    credentials = AgentCredentials(state_dir)
    credentials.save(key, enrolled.bundle, ca.ca_sha256, "https://panel.test")
    return credentials


@dataclass
class Agent:
    """A running agent API server and what a test needs to talk to it."""

    ca: PanelCA
    credentials: AgentCredentials
    host: RecordingHost
    store: ArtifactStore
    api: AgentAPI
    server: AgentServer
    tmp: Path
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **options: Any) -> AgentClient:
        return AgentClient(self.url, options.pop("agent_name", AGENT),
                           options.pop("client_cert", self.ca.client_cert_path),
                           options.pop("client_key", self.ca.client_key_path),
                           options.pop("ca_cert", self.ca.ca_cert_path), **options)

    def send(self, method: str, target: str, body: bytes = b"", *,
             signed_body: bytes | None = None, headers: dict[str, str] | None = None,
             signed_target: str | None = None, sign: bool = True,
             content_type: str = "application/json") -> requests.Response:
        """Send a hand-made request with the panel's certificate; sign what the test says."""
        sent_headers = {"Content-Type": content_type}
        if sign:
            digest = hashlib.sha256(body if signed_body is None else signed_body).hexdigest()
            with self.client() as client:
                sent_headers.update(client.signed_headers(method, signed_target or target, digest))
        sent_headers.update(headers or {})
        return requests.request(method, self.url + target, data=body, headers=sent_headers,
                                cert=(str(self.ca.client_cert_path), str(self.ca.client_key_path)),
                                verify=str(self.ca.ca_cert_path), timeout=10)

    def store_files(self) -> list[Path]:
        return [p for p in self.store.root.rglob("*") if p.is_file()]


def start_agent(tmp: Path, ca: PanelCA | None = None, host: Any = None,
                **api_options: Any) -> Agent:
    ca = ca or PanelCA.create(tmp / "panel-ca")
    state = tmp / "agent-state"
    credentials = issue_agent(ca, state)
    store = ArtifactStore(state / "artifacts")
    recording = host or RecordingHost(state)
    api = AgentAPI(recording, store, NonceLedger(state / "nonces.sqlite3"), credentials.agent_name,
                   credentials.release_public_key(), **api_options)
    server = build_api_server(api, "127.0.0.1:0", credentials.server_context(),
                              handshake_timeout=2.0, io_timeout=5.0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return Agent(ca, credentials, recording, store, api, server, tmp, [thread])


def stop_agent(agent: Agent) -> None:
    agent.server.shutdown()
    agent.server.server_close()
    agent.api.nonces.close()


def refused(excinfo: pytest.ExceptionInfo[AgentRefused]) -> tuple[int, str]:
    return excinfo.value.http_status, excinfo.value.code


def error_of(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]
