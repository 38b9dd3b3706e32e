"""What the benchmarks share: the testbed (brought up as the tests do), a HostAgent on a scratch
state directory, sample apps, HTTP helpers and the way figures are printed.

Every benchmark prints `name: value unit` lines and its ratios, all measured in the same run.
"""
from __future__ import annotations

import contextlib
import http.client
import io
import secrets
import shutil
import socket
import statistics
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker

from agents.databases import MariaDBSettings
from agents.host import HostAgent
from agents.images import ensure_runtime_images
from agents.protocol import AppSpec, HealthCheck, Limits
from agents.protocol.artifacts import ArtifactStore
from agents.vhosts import NginxSettings
from panel.testbed import Testbed

ZONE = "contoh.go.id"
PHP_APP = {"index.php": "<?php echo 'rilis ', getenv('RILIS') ?: '?', \"\\n\";\n"}
STATIC_APP = {"index.html": "<!doctype html><title>Dinas</title><h1>Selamat datang</h1>\n"}
LIMITS = Limits(memory_mb=128, cpus=0.5, pids=64)


def figure(name: str, value: float, unit: str = "s", note: str = "") -> None:
    """Print one measured figure."""
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    print(f"{name}: {shown} {unit}".rstrip() + (f"  ({note})" if note else ""), flush=True)


def ratio(name: str, numerator: float, denominator: float, target: str = "") -> float:
    """Print and return numerator / denominator."""
    value = numerator / denominator if denominator else float("inf")
    print(f"{name}: {value:.2f}x" + (f"  (target {target})" if target else ""), flush=True)
    return value


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def testbed() -> dict[str, dict[str, Any]]:
    """Start (or reuse) the testbed's services, the way the test suite's fixture does."""
    return Testbed().up()


def docker_client(status: dict[str, dict[str, Any]]) -> docker.DockerClient:
    return docker.DockerClient(base_url=status["docker"]["address"], timeout=120)


def nginx_settings(status: dict[str, dict[str, Any]]) -> NginxSettings:
    nginx = status["nginx"]
    prefix = Path(nginx["prefix"])
    return NginxSettings(sites_dir=Path(nginx["sites_dir"]), log_dir=prefix / "logs",
                         binary=nginx["binary"], prefix=nginx["prefix"], conf=nginx["conf"],
                         pid_file=prefix / "run" / "nginx.pid", listen=nginx["http"],
                         probe=nginx["http"])


@contextlib.contextmanager
def scratch_host() -> Iterator[tuple[HostAgent, dict[str, dict[str, Any]], docker.DockerClient]]:
    """Yield a HostAgent on a fresh state directory; remove all its apps afterwards."""
    status = testbed()
    client = docker_client(status)
    ensure_runtime_images(client)
    mariadb = status["mariadb"]
    host, _, port = mariadb["tcp"].rpartition(":")
    settings = MariaDBSettings(user=mariadb["admin_user"],
                               password=Testbed().credentials()["mariadb"]["admin_password"],
                               host=host, port=int(port), app_socket=Path(mariadb["socket"]))
    root = Path(tempfile.mkdtemp(prefix="wadah-bench-"))
    agent = HostAgent(client, nginx_settings(status), root / "agent", ArtifactStore(root / "artifacts"),
                 settings)
    try:
        yield agent, status, client
    finally:
        for app in agent.apps():
            with contextlib.suppress(Exception):
                agent.remove(app.name)
        with contextlib.suppress(Exception):
            agent.reconcile()
        shutil.rmtree(root, ignore_errors=True)
        client.close()


def free_port() -> int:
    """Return a loopback port nothing uses now (from the kernel's ephemeral range)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def archive(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def store(host: HostAgent, files: dict[str, str]) -> str:
    sha256, _ = host.artifacts.put(io.BytesIO(archive(files)), max_bytes=64 * 1024 * 1024)
    return sha256


def app_spec(name: str, release_id: int, sha256: str, stack: str = "php",
             **fields: Any) -> AppSpec:
    fields.setdefault("limits", LIMITS)
    return AppSpec(name=name, fqdn=f"{name}.{ZONE}", stack=stack, release_id=release_id,
                   artifact_sha256=sha256, **fields)


def get(address: str, host_header: str = "localhost", path: str = "/",
        timeout: float = 5.0) -> tuple[int, bytes]:
    """GET `path` from `address` (host:port); return (status, body)."""
    hostname, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(hostname, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host_header})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.01) -> float:
    """Poll `check` until it holds; return the seconds it took (raise TimeoutError after timeout)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(poll)


def answers(address: str, host_header: str = "localhost", expected: bytes = b"") -> bool:
    status, body = get(address, host_header, timeout=2.0)
    return status == 200 and expected in body


FAST_HEALTH = HealthCheck(interval_s=0.2)
