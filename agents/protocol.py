"""What the panel and an agent say to each other: validated names and the shapes of requests.

Every name that reaches nginx, DNS, Docker or MariaDB passes one of the validators below first;
the panel validates when a user types it, the agent again when a request arrives.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from agents import defaults

# Request bodies are decoded strictly (decoding.py); both ends name it through the protocol.
from agents.decoding import MalformedRequest as MalformedRequest
from agents.decoding import T as T
from agents.decoding import decode as decode

API_VERSION = "v1"

# RFC 1035 label, lowercase only (a hostname users type and read), 1–63 characters.
_LABEL = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# App names become Docker container, network and volume names and MariaDB identifiers.
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
STACKS = ("static", "php", "dockerfile")
# An app's limit on its writable data, in MiB: both sides check it (the panel's form, the agent).
STORAGE_DEFAULT_MB = defaults.STORAGE_DEFAULT_MB
STORAGE_MIN_MB, STORAGE_MAX_MB = defaults.STORAGE_MIN_MB, defaults.STORAGE_MAX_MB


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


# Variables that make the dynamic linker, a language runtime or a shell load code or settings of the
# caller's choosing (a library, a module path, an ini directory, a startup file): set on an app, they
# would run code the scan never saw. The panel refuses them when a user types one, the agent again.
CODE_LOADING_ENV = frozenset({
    # glibc: the loader, character-set and locale modules, resolver files, allocator tunables
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCPATH", "NLSPATH",
    "RESOLV_HOST_CONF",
    # PHP
    "PHPRC", "PHP_INI_SCAN_DIR", "PHP_VALUE", "PHP_ADMIN_VALUE",
    # Node.js
    "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
    # Perl, Ruby
    "PERLLIB", "PERLIO", "RUBYOPT", "RUBYLIB", "RUBYGEMS_GEMDEPS",
    # Java, .NET
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "DOTNET_STARTUP_HOOKS",
    # OpenSSL loads engines and providers named in its configuration
    "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES",
    # shells: startup files, options, and the prompt and separators a script's commands obey
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "IFS", "PS4", "PROMPT_COMMAND",
})
CODE_LOADING_ENV_PREFIXES = ("LD_", "MALLOC_", "PYTHON", "PERL5", "LUA_", "CORECLR_", "BASH_FUNC_")


def loads_code(name: str) -> bool:
    """Return whether the environment variable `name` would make the app load code of its choosing."""
    upper = name.upper()
    return upper in CODE_LOADING_ENV or upper.startswith(CODE_LOADING_ENV_PREFIXES)


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
    upload_max_mb: int = 32  # the vhost's (and PHP's) request body limit
    dockerfile: str = "Dockerfile"  # stack "dockerfile": its path inside the artifact
    storage_mb: int = STORAGE_DEFAULT_MB  # the size of the app's data volume when it is first made

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


# --- The ranges both ends accept ----------------------------------------------------------------
# The panel checks a user's input with these, the agent every request again: one rule, two places.


class InvalidSpec(ValueError):
    """A value of a request is outside what an app may ask for."""


def release_id(value: int) -> int:
    """Return `value` if it is a release number (1 to 2³¹-1), else raise InvalidSpec."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise InvalidSpec(f"nomor rilis tidak sah: {value!r}")
    return value


def image_id(value: str) -> str:
    """Return `value` if it is a Docker image id (sha256:…), else raise InvalidSpec."""
    if not isinstance(value, str) or not IMAGE_ID.match(value):
        raise InvalidSpec(f"id image tidak sah: {value!r}")
    return value


def check_storage(storage_mb: int) -> None:
    """Raise InvalidSpec unless `storage_mb` is a limit an app's data volume may have."""
    if isinstance(storage_mb, bool) or not isinstance(storage_mb, int) \
            or not STORAGE_MIN_MB <= storage_mb <= STORAGE_MAX_MB:
        raise InvalidSpec(f"batas penyimpanan harus antara {STORAGE_MIN_MB} dan"
                          f" {STORAGE_MAX_MB} MiB")


def check_env(env: dict[str, str]) -> None:
    """Raise InvalidSpec unless `env` is an environment an app may set."""
    if not isinstance(env, dict):
        raise InvalidSpec("env harus berupa objek")
    size = 0
    for key, value in env.items():
        try:
            env_key(key)
        except InvalidName as exc:
            raise InvalidSpec(str(exc)) from exc
        if key in defaults.RESERVED_ENV:
            raise InvalidSpec(f"variabel {key} diatur oleh Wadah dan tidak boleh diubah")
        if loads_code(key):
            raise InvalidSpec(f"variabel {key} membuat runtime memuat kode yang tidak pernah "
                              "dipindai dan ditolak")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidSpec(f"nilai variabel {key} harus teks tanpa karakter NUL")
        size += len(key) + len(value.encode())
    if size > defaults.ENV_MAX_BYTES:
        raise InvalidSpec(f"env melebihi {defaults.ENV_MAX_BYTES} bita")


def check_spec(spec: AppSpec) -> None:
    """Raise InvalidSpec unless every value of `spec` is within what an app may ask for."""
    try:
        app_name(spec.name)
    except InvalidName as exc:
        raise InvalidSpec(str(exc)) from exc
    release_id(spec.release_id)
    if not isinstance(spec.artifact_sha256, str) or not SHA256_HEX.match(spec.artifact_sha256):
        raise InvalidSpec("sha256 artefak tidak sah")
    check_env(spec.env)
    limits, health = spec.limits, spec.health
    if not (32 <= limits.memory_mb <= 65536 and 0.05 <= limits.cpus <= 64
            and 16 <= limits.pids <= 32768):
        raise InvalidSpec("batas sumber daya di luar rentang yang diizinkan")
    if not (isinstance(health.path, str) and health.path.startswith("/")
            and health.path.isprintable() and " " not in health.path and len(health.path) < 512
            and 1 <= health.attempts <= 600 and 0 <= health.interval_s <= 60
            and 0.1 <= health.timeout_s <= 60):
        raise InvalidSpec("pemeriksaan kesehatan tidak sah")
    if not 1 <= spec.upload_max_mb <= 4096:
        raise InvalidSpec("batas unggahan harus antara 1 dan 4096 MB")
    check_storage(spec.storage_mb)


# --- Signed requests ----------------------------------------------------------------------------
# Mutual TLS says who is calling; the signature, made with the key of the panel's client
# certificate, binds the method, the agent meant, the path, the body, the time and a one-off nonce,
# so a captured, reflected or proxied request can be neither altered, sent to another agent, nor
# replayed.

HEADER_TIMESTAMP = "X-Wadah-Timestamp"
HEADER_NONCE = "X-Wadah-Nonce"
HEADER_CONTENT_SHA256 = "X-Wadah-Content-SHA256"
HEADER_SIGNATURE = "X-Wadah-Signature"
MAX_SKEW_S = 300  # how old (or how far in the future) a request may be
NONCE = re.compile(r"^[0-9a-f]{32}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def canonical_request(method: str, audience: str, target: str, timestamp: int, nonce: str,
                      content_sha256: str) -> bytes:
    """Return the bytes a request signature covers; `target` is the path with its query string."""
    fields = ["wadah-request-v1", method.upper(), audience, target, timestamp, nonce,
              content_sha256]
    return json.dumps(fields, separators=(",", ":")).encode()


def sign_request(key: SigningKey, message: bytes) -> str:
    """Sign a canonical request with the panel's client key; return the signature in base64."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(message)
    return base64.b64encode(signature).decode()


def verify_request(public_key: Any, signature_b64: str, message: bytes) -> bool:
    """Return whether `signature_b64` is the client certificate's key's signature of `message`."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        else:
            return False
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# --- Signed releases ----------------------------------------------------------------------------
# Nothing reaches a host unscanned: the panel signs (app, release, artifact sha256, verdict) with
# its release-signing key (Ed25519) and the agent deploys only what carries that signature and a
# verdict the policy lets through. An app with its own Dockerfile runs an image built on the host,
# whose own files are scanned after the build: its deploy carries a second statement (v2) that
# also names the id of that image, and the agent runs that image and no other.

VERDICT_CLEAN = "clean"
# `review`, accepted by a technician with a written reason
VERDICT_REVIEW_ACCEPTED = "review_accepted"
DEPLOYABLE_VERDICTS = (VERDICT_CLEAN, VERDICT_REVIEW_ACCEPTED)
STATEMENT_V1 = "wadah-release-v1"  # the bundle's verdict
STATEMENT_V2 = "wadah-release-v2"  # the bundle's verdict and the image built from it
IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}\Z")


def release_statement(app: str, release_id: int, artifact_sha256: str, verdict: str,
                      image_id: str | None = None) -> bytes:
    """Return the bytes a release signature covers: v1 without an image, v2 naming one."""
    fields: list[Any] = [STATEMENT_V1, app, release_id, artifact_sha256, verdict]
    if image_id is not None:
        fields = [STATEMENT_V2, app, release_id, artifact_sha256, verdict, image_id]
    return json.dumps(fields, separators=(",", ":")).encode()


def sign_release(key: ed25519.Ed25519PrivateKey, app: str, release_id: int, artifact_sha256: str,
                 verdict: str, image_id: str | None = None) -> str:
    """Sign the scan verdict of one release's artifact (and image); return it in base64."""
    if image_id is not None and not IMAGE_ID.match(image_id):
        raise ValueError(f"bukan id image: {image_id!r}")
    statement = release_statement(app, release_id, artifact_sha256, verdict, image_id)
    return base64.b64encode(key.sign(statement)).decode()


def verify_release(public_key: ed25519.Ed25519PublicKey, signature_b64: str, app: str,
                   release_id: int, artifact_sha256: str, verdict: str,
                   image_id: str | None = None) -> bool:
    """Return whether `signature_b64` is the panel's signature of this release's verdict.

    With `image_id` only a v2 statement naming that image verifies; without, only a v1 one.
    """
    if image_id is not None and not IMAGE_ID.match(image_id):
        return False
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True),
                          release_statement(app, release_id, artifact_sha256, verdict, image_id))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


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


@dataclass(frozen=True)
class EnrolmentRequest:
    """What an agent sends the panel to enrol: the one-time token and a CSR for its own key."""

    token: str
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
