"""The ranges both ends accept: the panel checks a user's input with these, the agent every request
again: one rule, two places."""
from __future__ import annotations

import ipaddress

from agents.protocol.messages import AppSpec
from agents.protocol.names import (
    ENV_MAX_BYTES,
    RESERVED_ENV,
    SHA256_HEX,
    STORAGE_MAX_MB,
    STORAGE_MIN_MB,
    InvalidName,
    app_name,
    env_key,
    loads_code,
)
from agents.protocol.signatures import IMAGE_ID


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
        if key in RESERVED_ENV:
            raise InvalidSpec(f"variabel {key} diatur oleh Wadah dan tidak boleh diubah")
        if loads_code(key):
            raise InvalidSpec(f"variabel {key} membuat runtime memuat kode yang tidak pernah "
                              "dipindai dan ditolak")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidSpec(f"nilai variabel {key} harus teks tanpa karakter NUL")
        size += len(key) + len(value.encode())
    if size > ENV_MAX_BYTES:
        raise InvalidSpec(f"env melebihi {ENV_MAX_BYTES} bita")


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
    if spec.listen_address is not None:
        check_listen_address(spec.listen_address)


def check_listen_address(address: object) -> str:
    """Return `address` if it is a plain IPv4 or IPv6 address (no port, scope or prefix)."""
    try:
        if not isinstance(address, str) or str(ipaddress.ip_address(address)) != address:
            raise ValueError(address)
    except ValueError as exc:
        raise InvalidSpec("alamat IP aplikasi tidak sah") from exc
    return address
