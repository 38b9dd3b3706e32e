"""What the agent reads of its host and its apps: capacity, versions, status, logs and usage.

Nothing here changes the host; the SOP's capacity check and the panel's app pages read it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agents import defaults
from agents.errors import DatabaseError, HostOperationError, InvalidRequest
from agents.firewall import firewall_facts
from agents.parts import AppState, HostParts
from agents.runtime import ContainerStats
from agents.state import RUNNING, DatabaseAccount
from agents.vhosts import rotated

LOG_SOURCES = ("app", "access", "error")


@dataclass(frozen=True)
class HostFacts:
    """What the SOP's capacity check reads: the host's size, what it runs and what is committed."""

    hostname: str
    cpus: int
    load_average: list[float]
    memory_total_bytes: int
    memory_available_bytes: int
    disk: dict[str, dict[str, int]]  # path → total_bytes, free_bytes
    docker_version: str
    nginx_version: str
    mariadb_version: str | None
    apps_total: int
    apps_running: list[str]
    memory_committed_mb: int  # the sum of the memory limits of the apps meant to run
    cpus_committed: float
    storage_committed_mb: int  # the sum of the apps' data volumes (sparse: used as data comes)
    storage_used_bytes: int  # what the apps' data takes of them now
    app_network: dict[str, Any] = field(default_factory=dict)  # agents.firewall: what apps reach

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResourceStats:
    app: str
    memory_bytes: int
    memory_limit_bytes: int
    cpu_percent: float
    pids: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HostReadings:
    """Read the host's capacity and each app's status, logs, usage, environment and database."""

    def __init__(self, parts: HostParts) -> None:
        self.parts = parts

    def status(self, app: str) -> AppState:
        return self.parts.app_state(self.parts.load(app))

    def apps(self) -> list[AppState]:
        """Return the status of every app kept on this host."""
        found = []
        for name in self.parts.state.names():
            record = self.parts.state.load(name)
            if record is not None:
                found.append(self.parts.app_state(record))
        return found

    def logs(self, app: str, tail: int = 200, since: datetime | int | None = None,
             source: str = "app") -> str:
        """Return the last `tail` lines of the app's output ("app") or nginx log ("access"/"error").

        `since` (a datetime or a Unix time) applies to the app's output.
        """
        if source not in LOG_SOURCES:
            raise InvalidRequest(f"sumber log tidak dikenal: {source!r}")
        if not 0 <= int(tail) <= 10_000:
            raise InvalidRequest("tail harus antara 0 dan 10000")
        parts = self.parts
        record = parts.load(app)
        if source == "app":
            if record.current is None or record.current.instance is None:
                return ""
            return parts.runtime.logs(parts.container_name(app, record.current), tail, since)
        access, error = parts.vhosts.log_paths(app)
        path = access if source == "access" else error
        return tail_lines([rotated(path, 1), path], int(tail))

    def rotate_logs(self, max_bytes: int = defaults.LOG_ROTATE_BYTES) -> list[Path]:
        """Rotate the nginx logs of this host's apps that grew past `max_bytes`; return them."""
        return self.parts.vhosts.rotate_logs(self.parts.state.names(), max_bytes)

    def stats(self, app: str) -> ResourceStats | None:
        """Return the app's memory, CPU and process counts now, or None if it is not running."""
        parts = self.parts
        record = parts.load(app)
        if record.current is None or record.current.instance is None:
            return None
        found: ContainerStats | None = parts.runtime.stats(
            parts.container_name(app, record.current))
        if found is None:
            return None
        return ResourceStats(app, found.memory_bytes, found.memory_limit_bytes, found.cpu_percent,
                             found.pids)

    def env(self, app: str) -> dict[str, str]:
        """Return the app's own environment (without the variables the agent adds)."""
        return dict(self.parts.load(app).env)

    def database(self, app: str) -> DatabaseAccount | None:
        """Return the app's database connection, password included, or None."""
        return self.parts.load(app).database

    def facts(self) -> HostFacts:
        """Return the host's capacity, versions and the apps it runs."""
        parts = self.parts
        memory = meminfo()
        disk = {}
        paths = {str(parts.state.root)}
        with contextlib.suppress(HostOperationError):
            paths.add(str(parts.runtime.info().get("DockerRootDir") or ""))
        for path in sorted(p for p in paths if p):
            with contextlib.suppress(OSError):
                usage = shutil.disk_usage(path)
                disk[path] = {"total_bytes": usage.total, "free_bytes": usage.free}
        mariadb_version = None
        if parts.databases is not None:
            with contextlib.suppress(DatabaseError):
                mariadb_version = parts.databases.version()
        records = [r for r in (parts.state.load(n) for n in parts.state.names()) if r is not None]
        volumes = [u for u in (parts.volumes.usage(r.name, parts.state.data_dir(r.name))
                               for r in records) if u is not None]
        running_names = {c.name for c in parts.runtime.owned() if c.status == "running"}
        running = sorted(r.name for r in records if r.current and r.current.instance
                         and parts.container_name(r.name, r.current) in running_names)
        meant = [r for r in records if r.desired == RUNNING and r.current]
        return HostFacts(
            hostname=os.uname().nodename,
            cpus=os.cpu_count() or 1,
            load_average=[round(x, 2) for x in os.getloadavg()],
            memory_total_bytes=memory.get("MemTotal", 0),
            memory_available_bytes=memory.get("MemAvailable", 0),
            disk=disk,
            docker_version=parts.runtime.version(),
            nginx_version=parts.vhosts.version(),
            mariadb_version=mariadb_version,
            apps_total=len(records),
            apps_running=running,
            memory_committed_mb=sum(r.current.spec.limits.memory_mb for r in meant if r.current),
            cpus_committed=round(sum(r.current.spec.limits.cpus for r in meant if r.current), 2),
            storage_committed_mb=sum(u.limit_mb for u in volumes),
            storage_used_bytes=sum(u.used_bytes for u in volumes),
            app_network=firewall_facts(parts.firewall),
        )


def meminfo() -> dict[str, int]:
    """Return /proc/meminfo in bytes (empty where it cannot be read)."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                found[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return found


def tail_lines(paths: list[Path], lines: int) -> str:
    """Return the last `lines` lines of log files read one after another, oldest first.

    Files that do not exist count as empty; older files are read only as far as needed.
    """
    data = b""
    for path in reversed(paths):
        if data.count(b"\n") > lines:
            break
        try:
            with path.open("rb") as file:
                file.seek(0, os.SEEK_END)
                size = file.tell()
                block, found = 64 * 1024, b""
                while size > 0 and (found + data).count(b"\n") <= lines:
                    step = min(block, size)
                    size -= step
                    file.seek(size)
                    found = file.read(step) + found
        except FileNotFoundError:
            continue
        if found and not found.endswith(b"\n"):
            found += b"\n"  # a line cut by the rotation ends with its file
        data = found + data
    text = data.decode(errors="replace").splitlines()
    return "\n".join(text[-lines:]) if lines else ""
