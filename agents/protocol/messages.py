"""The shapes of what the panel and an agent send each other, and their strict decoding."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Request bodies are decoded strictly (decoding.py); both ends name it through the protocol.
from agents.protocol.decoding import MalformedRequest as MalformedRequest
from agents.protocol.decoding import T as T
from agents.protocol.decoding import decode as decode
from agents.protocol.names import STORAGE_DEFAULT_MB, app_name, domain, env_key, stack

API_VERSION = "v1"


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
    upload_max_mb: int = 32  # the vhost's (and PHP's) request body limit
    dockerfile: str = "Dockerfile"  # stack "dockerfile": its path inside the artifact
    storage_mb: int = STORAGE_DEFAULT_MB  # the size of the app's data volume when it is first made
    listen_address: str | None = None  # the app's own IP its vhost binds to; None: the host's listen

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




@dataclass(frozen=True)
class DeployRequest:
    """Body of `POST /v1/apps/<name>/deploy`.

    Stack "dockerfile": `image_id` names the image a build made, and `signature` is the v2
    statement over it; every other stack: no image, and the v1 statement.
    """

    spec: AppSpec
    verdict: str
    signature: str
    image_id: str | None = None


@dataclass(frozen=True)
class BuildRequest:
    """Body of `POST /v1/apps/<name>/builds`: build a Dockerfile app's image from its signed bundle."""

    spec: AppSpec
    verdict: str
    signature: str  # the v1 statement over the bundle


@dataclass(frozen=True)
class EnvRequest:
    """Body of `PUT /v1/apps/<name>/env`: the app's whole environment, replacing the old one."""

    env: dict[str, str]

    def __post_init__(self) -> None:
        for key in self.env:
            env_key(key)


@dataclass(frozen=True)
class StorageRequest:
    """Body of `PUT /v1/apps/<name>/storage`: the app's new limit on its writable data."""

    storage_mb: int


@dataclass(frozen=True)
class RestoreRequest:
    """Body of `POST /v1/apps/<name>/backups/<id>/restore`: restore into the app, or another."""

    into: str | None = None


@dataclass(frozen=True)
class BackupScheduleRequest:
    """Body of `PUT /v1/apps/<name>/backups/schedule`: back up every `hours` (0: on demand)."""

    hours: int


@dataclass(frozen=True)
class CertificateRequest:
    """Body of `PUT /v1/apps/<name>/certificate`: the app's own TLS certificate (full chain)."""

    certificate: str  # PEM
    key: str  # PEM


# --- Enrolment ----------------------------------------------------------------------------------

ENROLL_PATH = "/api/v1/agents/enroll"  # on the panel
# On the panel: a new certificate for an enrolled agent, asked for with its current key's signature.
RENEW_PATH = "/api/v1/agents/renew"
RENEWAL_AUDIENCE = "wadah-panel"  # what a renewal request's signature names as its receiver


class EnrolmentRefused(Exception):
    """An enrolment the panel or the agent will not go through with; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EnrolmentRequest:
    """What an agent sends the panel to enrol: the one-time token and a CSR for its own key."""

    token: str
    csr: str


@dataclass(frozen=True)
class RenewalRequest:
    """What an enrolled agent sends to renew: its current certificate and a CSR for a new key.

    The request is signed with the current certificate's key (the same headers as the panel's
    requests to an agent), so only the holder of that key can renew it.
    """

    certificate: str
    csr: str


@dataclass(frozen=True)
class EnrolmentBundle:
    """What the panel answers: the agent's certificate, the CA's, and the release-signing key."""

    agent_name: str
    certificate: str  # PEM
    ca_certificate: str  # PEM
    release_signing_key: str  # PEM, Ed25519 public key
    release_signing_key_endorsement: str  # base64: the CA's signature over that key

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
