"""App containers on Docker Engine: hardened, labelled as ours, one bridge network per app.

Only this module and runtime_images.py (the images) talk to Docker. Every failure to reach or use Docker
becomes RuntimeUnavailable; a container that does not become healthy becomes DeployAborted with its last
log lines.
"""
from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import re
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import IPAMConfig, IPAMPool, LogConfig, Mount

from agents import defaults
from agents.errors import DeployAborted, RuntimeUnavailable
from agents.protocol import HealthCheck, Limits, app_name
from agents.runtime_images import ImageFacts as ImageFacts  # image builds name it through the runtime
from agents.runtime_images import RuntimeImages, docker_errors, explain

logger = logging.getLogger(__name__)


class PortTaken(RuntimeUnavailable):
    """The loopback port chosen for a container was taken by someone else meanwhile."""


@dataclass(frozen=True)
class ContainerSpec:
    """One container of one release of one app, as the agent runs it."""

    app: str
    release_id: int
    instance: str
    port: int  # on 127.0.0.1
    image: str
    limits: Limits
    env: dict[str, str] = field(default_factory=dict)
    code_dir: Path | None = None  # mounted read-only at APP_MOUNT; None: the code is in the image
    writable: dict[str, Path] = field(default_factory=dict)  # path under APP_MOUNT → host directory
    db_socket: Path | None = None  # the MariaDB socket, mounted where PHP looks for it

    @property
    def name(self) -> str:
        return f"{defaults.NAME_PREFIX}-{self.app}-{self.release_id}-{self.instance}"


@dataclass(frozen=True)
class ContainerStats:
    memory_bytes: int  # working set: usage less inactive file cache (what `docker stats` shows)
    memory_limit_bytes: int
    cpu_percent: float  # of one core, over the sampling interval Docker used
    pids: int


class Runtime(RuntimeImages):
    """Runs the agent's containers; touches only what carries this agent's label."""

    def __init__(self, client: docker.DockerClient, owner: str,
                 network_lock: Callable[[], AbstractContextManager[None]] | None = None) -> None:
        super().__init__(client, owner)
        self._network_lock = network_lock or contextlib.nullcontext

    # --- facts -----------------------------------------------------------------------------------

    def version(self) -> str:
        with docker_errors("membaca versi"):
            return str(self.client.version().get("Version", ""))

    def info(self) -> dict[str, Any]:
        with docker_errors("membaca info"):
            return dict(self.client.info())

    # --- networks --------------------------------------------------------------------------------

    def network_name(self, app: str) -> str:
        return f"{defaults.NAME_PREFIX}-{app_name(app)}"

    def ensure_network(self, app: str) -> str:
        """Create the app's bridge network unless it exists; return its name."""
        name = self.network_name(app)
        with docker_errors(f"menyiapkan jaringan {name}"), self._network_lock():
            existing = self.client.networks.list(names=[name], filters={
                "label": f"{defaults.LABEL_AGENT}={self.owner}"})
            if any(n.name == name for n in existing):
                return name
            for subnet in self._free_subnets():
                try:
                    self.client.networks.create(
                        name, driver="bridge", labels=self.labels(app), check_duplicate=True,
                        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet))]),
                        options={"com.docker.network.bridge.enable_icc": "false"})
                    return name
                except docker.errors.APIError as exc:
                    if "overlap" not in explain(exc).lower():
                        raise
            raise RuntimeUnavailable("tidak ada subnet bebas untuk jaringan aplikasi")

    def _free_subnets(self) -> Iterator[ipaddress.IPv4Network]:
        taken: list[ipaddress.IPv4Network] = list(_host_routes())
        for network in self.client.networks.list():
            for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    taken.append(ipaddress.IPv4Network(pool["Subnet"]))
        pool = ipaddress.IPv4Network(defaults.NETWORK_POOL)
        for subnet in pool.subnets(new_prefix=defaults.NETWORK_PREFIX):
            if not any(subnet.overlaps(other) for other in taken):
                yield subnet

    def remove_network(self, app: str) -> None:
        name = self.network_name(app)
        with docker_errors(f"menghapus jaringan {name}"):
            for network in self.client.networks.list(names=[name], filters={
                    "label": f"{defaults.LABEL_AGENT}={self.owner}"}):
                if network.name == name:
                    with contextlib.suppress(docker.errors.NotFound):
                        network.remove()

    def owned_networks(self) -> dict[str, str]:
        """Return {network name: app} for the networks this agent created."""
        with docker_errors("mendaftar jaringan"):
            networks = self.client.networks.list(filters={
                "label": f"{defaults.LABEL_AGENT}={self.owner}"})
        return {n.name: n.attrs.get("Labels", {}).get(defaults.LABEL_APP, "") for n in networks}

    # --- containers ------------------------------------------------------------------------------

    def run(self, spec: ContainerSpec, user: str) -> None:
        """Create and start the container for `spec` with the hardening every app gets."""
        mounts = []
        if spec.code_dir is not None:
            mounts.append(Mount(defaults.APP_MOUNT, str(spec.code_dir), type="bind",
                                read_only=True))
        for rel, host_dir in sorted(spec.writable.items()):
            mounts.append(Mount(f"{defaults.APP_MOUNT}/{rel}", str(host_dir), type="bind",
                                read_only=False))
        if spec.db_socket is not None:
            mounts.append(Mount(defaults.DB_CONTAINER_SOCKET, str(spec.db_socket), type="bind",
                                read_only=False))
        memory = f"{int(spec.limits.memory_mb)}m"
        network = self.ensure_network(spec.app)
        with docker_errors(f"menjalankan kontainer {spec.name}"):
            leftover = self._get(spec.name)  # only ever ours: another's name makes create fail
            if leftover is not None:
                leftover.remove(force=True)
            container = self.client.containers.create(
                spec.image,
                name=spec.name,
                hostname=spec.app,
                labels=self.labels(spec.app, spec.release_id, spec.instance),
                environment=dict(spec.env),
                user=user,
                cap_drop=["ALL"],
                cap_add=list(defaults.CAPABILITIES) or None,
                security_opt=["no-new-privileges:true"],
                privileged=False,
                read_only=True,
                tmpfs=dict(defaults.TMPFS),
                mem_limit=memory,
                memswap_limit=memory,  # no swap: the plan's memory is all the app gets
                nano_cpus=int(spec.limits.cpus * 1e9),
                pids_limit=int(spec.limits.pids),
                ipc_mode="private",
                ports={f"{defaults.CONTAINER_PORT}/tcp": ("127.0.0.1", spec.port)},
                network=network,
                mounts=mounts,
                restart_policy={"Name": defaults.RESTART_POLICY},
                log_config=LogConfig(type="json-file", config={
                    "max-size": defaults.LOG_MAX_SIZE, "max-file": defaults.LOG_MAX_FILES}),
            )
            if spec.image.startswith("sha256:") and container.attrs.get("Image") != spec.image:
                container.remove(force=True)  # never run another image than the one signed
                raise RuntimeUnavailable(f"kontainer {spec.name} tidak dibuat dari image "
                                         f"{spec.image}")
            try:
                container.start()
            except docker.errors.APIError as exc:
                container.remove(force=True)
                text = explain(exc).lower()
                if "port is already allocated" in text or "address already in use" in text:
                    raise PortTaken(f"port {spec.port} sudah dipakai proses lain") from exc
                raise

    def _get(self, name: str) -> Container | None:
        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        if container.labels.get(defaults.LABEL_AGENT) != self.owner:
            return None  # not ours: never touched
        return container

    def status(self, name: str) -> str | None:
        """Return the container's state ("running", "exited", …) or None if it does not exist."""
        with docker_errors(f"membaca kontainer {name}"):
            container = self._get(name)
            return None if container is None else str(container.status)

    def details(self, name: str) -> dict[str, Any] | None:
        with docker_errors(f"membaca kontainer {name}"):
            container = self._get(name)
            return None if container is None else dict(container.attrs)

    def start(self, name: str) -> bool:
        """Start an existing container; return False if it does not exist."""
        with docker_errors(f"memulai kontainer {name}"):
            container = self._get(name)
            if container is None:
                return False
            container.start()
            return True

    def stop(self, name: str) -> None:
        with docker_errors(f"menghentikan kontainer {name}"):
            container = self._get(name)
            if container is not None and container.status in ("running", "restarting", "paused"):
                container.stop(timeout=defaults.STOP_TIMEOUT_S)

    def restart(self, name: str) -> bool:
        with docker_errors(f"memulai ulang kontainer {name}"):
            container = self._get(name)
            if container is None:
                return False
            container.restart(timeout=defaults.STOP_TIMEOUT_S)
            return True

    def remove(self, name: str) -> None:
        """Remove the container (stopping it first) if it exists and is ours."""
        with docker_errors(f"menghapus kontainer {name}"):
            container = self._get(name)
            if container is not None:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)

    def owned(self, app: str | None = None) -> list[Container]:
        """Return this agent's containers (of one app, when named), running or not."""
        labels = [f"{defaults.LABEL_AGENT}={self.owner}"]
        if app is not None:
            labels.append(f"{defaults.LABEL_APP}={app_name(app)}")
        with docker_errors("mendaftar kontainer"):
            return list(self.client.containers.list(all=True, filters={"label": labels}))

    def logs(self, name: str, tail: int = 200, since: datetime | int | None = None) -> str:
        """Return the container's output, at most `tail` lines, optionally since a time."""
        with docker_errors(f"membaca log {name}"):
            container = self._get(name)
            if container is None:
                return ""
            kwargs: dict[str, Any] = {"tail": max(0, int(tail)), "timestamps": True}
            if since is not None:
                kwargs["since"] = since
            data = container.logs(stdout=True, stderr=True, **kwargs)
        return data.decode(errors="replace") if isinstance(data, bytes) else str(data)

    def stats(self, name: str) -> ContainerStats | None:
        with docker_errors(f"membaca statistik {name}"):
            container = self._get(name)
            if container is None or container.status != "running":
                return None
            raw = container.stats(stream=False)
        memory = raw.get("memory_stats") or {}
        inner = memory.get("stats") or {}
        cache = inner.get("total_inactive_file", inner.get("inactive_file", 0))
        cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
        cpu_delta = (cpu.get("cpu_usage", {}).get("total_usage", 0)
                     - pre.get("cpu_usage", {}).get("total_usage", 0))
        system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
        cores = cpu.get("online_cpus") or 1
        percent = (cpu_delta / system_delta) * cores * 100.0 if system_delta > 0 else 0.0
        return ContainerStats(
            memory_bytes=max(0, int(memory.get("usage", 0)) - int(cache)),
            memory_limit_bytes=int(memory.get("limit", 0)),
            cpu_percent=round(percent, 2),
            pids=int((raw.get("pids_stats") or {}).get("current", 0)),
        )

    # --- health ----------------------------------------------------------------------------------

    def wait_healthy(self, spec: ContainerSpec, health: HealthCheck) -> None:
        """Poll the container's port until the health path answers; raise DeployAborted if not.

        Each HTTP answer counts as an attempt, `interval_s` apart; until the server answers at
        all it is asked often, so a quick server is seen at once. Altogether the wait is bounded
        by attempts × (interval + timeout).
        """
        deadline = time.monotonic() + max(1, health.attempts) * (health.interval_s + health.timeout_s)
        attempts, last = 0, "port belum menjawab"
        while True:
            state = self.status(spec.name)
            if state not in ("running", "created", "restarting"):
                last = f"kontainer berhenti (status {state})"
                break
            status = probe_http(spec.port, health.path, health.timeout_s)
            if status is None:  # not listening yet (Docker's proxy accepts, then drops)
                if time.monotonic() > deadline:
                    break
                time.sleep(defaults.PORT_POLL_S)
                continue
            if status in defaults.HEALTHY_STATUS:
                return
            attempts += 1
            last = f"jawaban HTTP {status}"
            if attempts >= health.attempts or time.monotonic() > deadline:
                break
            time.sleep(health.interval_s)
        raise DeployAborted(f"rilis {spec.release_id} aplikasi {spec.app} tidak sehat: {last}",
                           logs=self.logs(spec.name, tail=defaults.LOG_LINES_ON_FAILURE))

    # --- images ----------------------------------------------------------------------------------

def probe_http(port: int, path: str, timeout: float, host: str = "127.0.0.1") -> int | None:
    """Return the HTTP status `GET path` gets on host:port, or None if nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "localhost", "User-Agent": "wadah-agent"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


_ROUTE = re.compile(r"^\S+\s+([0-9A-F]{8})\s+[0-9A-F]{8}\s+\S+\s+\S+\s+\S+\s+\S+\s+([0-9A-F]{8})")


def _host_routes() -> Iterator[ipaddress.IPv4Network]:
    """Yield the host's IPv4 routes (but the default one), so a new bridge overlaps none of them."""
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return
    for line in lines:
        match = _ROUTE.match(line)
        if not match:
            continue
        dest, mask = (socket.inet_ntoa(struct.pack("<I", int(v, 16))) for v in match.groups())
        if mask == "0.0.0.0":  # noqa: S104 (the default route, skipped)
            continue
        with contextlib.suppress(ValueError):
            yield ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
