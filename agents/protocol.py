"""What the panel and an agent say to each other: validated names and the shapes of requests.

Every name that reaches nginx, DNS, Docker or MariaDB passes one of the validators below first;
the panel validates when a user types it, the agent again when a request arrives.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

API_VERSION = "v1"

# RFC 1035 label, lowercase only (a hostname users type and read), 1–63 characters.
_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# App names become Docker container, network and volume names and MariaDB identifiers.
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
STACKS = ("static", "php", "dockerfile")


class InvalidName(ValueError):
    pass


def label(value: str) -> str:
    """Return `value` if it is a valid lowercase DNS label (a subdomain), else raise InvalidName."""
    if not isinstance(value, str) or not _LABEL.match(value) or "--" in value[2:4]:
        raise InvalidName(f"bukan label DNS yang sah: {value!r}")
    return value


def domain(value: str) -> str:
    """Return `value` if it is a lowercase domain of valid labels, else raise InvalidName."""
    if not isinstance(value, str) or len(value) > 253 or "." not in value:
        raise InvalidName(f"bukan nama domain yang sah: {value!r}")
    for part in value.split("."):
        label(part)
    return value


def app_name(value: str) -> str:
    """Return `value` if it is a valid app name (2–40 of a-z, 0-9, '-'), else raise InvalidName."""
    if not isinstance(value, str) or not _APP_NAME.match(value) or "--" in value:
        raise InvalidName(f"bukan nama aplikasi yang sah: {value!r}")
    return value


def env_key(value: str) -> str:
    """Return `value` if it is a valid environment variable name, else raise InvalidName."""
    if not isinstance(value, str) or not _ENV_KEY.match(value):
        raise InvalidName(f"bukan nama variabel lingkungan yang sah: {value!r}")
    return value


def stack(value: str) -> str:
    if value not in STACKS:
        raise InvalidName(f"stack tidak dikenal: {value!r}")
    return value


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 256
    cpus: float = 1.0
    pids: int = 128


@dataclass(frozen=True)
class HealthCheck:
    path: str = "/"
    attempts: int = 30
    interval_s: float = 0.5
    timeout_s: float = 3.0


@dataclass(frozen=True)
class AppSpec:
    """Everything an agent needs to run one release of one app."""

    name: str
    fqdn: str
    stack: str
    release_id: int
    artifact_sha256: str
    docroot: str | None = None  # relative to the app root; None: detected from the framework
    writable_paths: tuple[str, ...] | None = None  # None: detected from the framework
    env: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    health: HealthCheck = field(default_factory=HealthCheck)
    database: bool = False

    def __post_init__(self) -> None:
        app_name(self.name)
        domain(self.fqdn)
        stack(self.stack)
        for key in self.env:
            env_key(key)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppSpec:
        data = dict(data)
        data["limits"] = Limits(**data.get("limits", {}))
        data["health"] = HealthCheck(**data.get("health", {}))
        if data.get("writable_paths") is not None:
            data["writable_paths"] = tuple(data["writable_paths"])
        return cls(**data)
