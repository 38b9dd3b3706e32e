"""A stand-in for one host agent, for panel tests that need an agent's answers but not a real one."""
from __future__ import annotations

from typing import Any

from panel.models import App, AppStatus, HostStatus
from panel.models.base import utcnow
from tests.panel import factories

MIB = 1024 * 1024
DB_SECRET = "sandi-basis-data-baru-7f3a9c"


class FakeAgent:
    """Stands in for one host agent: records what it was asked and answers like the real one."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.env: dict[str, str] = {}
        self.rollback_to: int | None = None
        self.refuse_storage: Exception | None = None

    def __enter__(self) -> FakeAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _status(self, name: str, desired: str = "running") -> dict[str, Any]:
        return {"name": name, "desired": desired, "state": "running" if desired == "running" else "exited",
                "release_id": 1, "port": 20001, "deploying": False}

    def status(self, name: str) -> dict[str, Any]:
        self.calls.append(("status", (name,)))
        return self._status(name)

    def restart(self, name: str) -> dict[str, Any]:
        self.calls.append(("restart", (name,)))
        return self._status(name)

    def stop(self, name: str) -> dict[str, Any]:
        self.calls.append(("stop", (name,)))
        return self._status(name, "stopped")

    def start(self, name: str) -> dict[str, Any]:
        self.calls.append(("start", (name,)))
        return self._status(name)

    def logs(self, name: str, tail: int | None = None, since: int | None = None,
             source: str | None = None) -> str:
        self.calls.append(("logs", (name, tail, source)))
        return f"baris {source} 1\nbaris {source} 2"

    def stats(self, name: str) -> dict[str, Any]:
        self.calls.append(("stats", (name,)))
        return {"app": name, "memory_bytes": 50 * 1024 * 1024, "memory_limit_bytes": 256 * 1024 * 1024,
                "cpu_percent": 12.5, "pids": 4}

    def set_env(self, name: str, env: dict[str, str]) -> dict[str, Any]:
        self.calls.append(("set_env", (name,)))
        self.env = dict(env)
        return {"app": name, "release_id": 1}

    def rollback(self, name: str) -> dict[str, Any]:
        self.calls.append(("rollback", (name,)))
        return {"app": name, "release_id": self.rollback_to}

    def database(self, name: str) -> dict[str, str]:
        return {"database": "wadah_x", "user": "wadah_x", "password": "rahasia-lama"}

    def reset_database_password(self, name: str) -> dict[str, Any]:
        self.calls.append(("reset_database_password", (name,)))
        return {"app": name, "database": {"database": "wadah_x", "user": "wadah_x", "password": DB_SECRET}}

    def set_storage(self, name: str, storage_mb: int) -> dict[str, Any]:
        self.calls.append(("set_storage", (name, storage_mb)))
        if self.refuse_storage is not None:
            raise self.refuse_storage
        return {**self._status(name), "storage_mb": storage_mb, "storage": {
            "limit_mb": storage_mb, "mounted": True, "total_bytes": (storage_mb - 40) * MIB,
            "used_bytes": 300 * MIB, "free_bytes": (storage_mb - 340) * MIB}}


def deployed_app(owner: Any = None, **fields: Any) -> App:
    """An app running its first release on an enrolled, online host."""
    host = factories.host(status=HostStatus.ONLINE, cert_fingerprint="aa:bb:cc")
    made = factories.app(owner, host=host, status=AppStatus.RUNNING, **fields)
    factories.release(made, deployed_at=utcnow())
    return made
