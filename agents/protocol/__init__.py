"""What the panel and an agent share: the one package of `agents` the panel may import.

`names` (validated names), `messages` (request shapes; `decoding`: strict decoding), `ranges` (the
value ranges both ends check), `signatures` (signed
requests and releases), `artifacts` (the content-addressed bundle store both ends keep) and
`certificates` (the channel's certificate vocabulary). This module re-exports the first three,
so `protocol.AppSpec`, `protocol.label` and `protocol.sign_release` read as one vocabulary.
Nothing here imports any other part of `agents`.
"""
from __future__ import annotations

from agents.protocol.messages import (
    API_VERSION,
    ENROLL_PATH,
    RENEW_PATH,
    RENEWAL_AUDIENCE,
    AppSpec,
    BackupScheduleRequest,
    BuildRequest,
    CertificateRequest,
    DeployRequest,
    EnrolmentBundle,
    EnrolmentRefused,
    EnrolmentRequest,
    EnvRequest,
    HealthCheck,
    Limits,
    MalformedRequest,
    RenewalRequest,
    RestoreRequest,
    StorageRequest,
    T,
    decode,
)
from agents.protocol.names import (
    CODE_LOADING_ENV,
    CODE_LOADING_ENV_PREFIXES,
    ENV_MAX_BYTES,
    RESERVED_ENV,
    SHA256_HEX,
    STACKS,
    STORAGE_DEFAULT_MB,
    STORAGE_MAX_MB,
    STORAGE_MIN_MB,
    InvalidName,
    app_name,
    domain,
    env_key,
    label,
    loads_code,
    stack,
)
from agents.protocol.ranges import (
    InvalidSpec,
    check_env,
    check_spec,
    check_storage,
    image_id,
    release_id,
)
from agents.protocol.signatures import (
    DEPLOYABLE_VERDICTS,
    EMPTY_SHA256,
    ENDORSEMENT_CONTEXT,
    HEADER_CONTENT_SHA256,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    IMAGE_ID,
    MAX_SKEW_S,
    NONCE,
    STATEMENT_V1,
    STATEMENT_V2,
    VERDICT_CLEAN,
    VERDICT_REVIEW_ACCEPTED,
    SigningKey,
    canonical_request,
    endorsement_statement,
    release_statement,
    sign_release,
    sign_request,
    verify_release,
    verify_request,
)

__all__ = [
    "API_VERSION", "CODE_LOADING_ENV", "CODE_LOADING_ENV_PREFIXES", "DEPLOYABLE_VERDICTS",
    "EMPTY_SHA256", "ENDORSEMENT_CONTEXT", "ENROLL_PATH", "RENEW_PATH", "RENEWAL_AUDIENCE",
    "HEADER_CONTENT_SHA256", "HEADER_NONCE",
    "HEADER_SIGNATURE", "HEADER_TIMESTAMP", "IMAGE_ID", "MAX_SKEW_S", "NONCE", "SHA256_HEX", "STACKS",
    "STATEMENT_V1", "STATEMENT_V2", "STORAGE_DEFAULT_MB", "STORAGE_MAX_MB", "STORAGE_MIN_MB",
    "VERDICT_CLEAN", "VERDICT_REVIEW_ACCEPTED", "AppSpec", "BuildRequest", "CertificateRequest",
    "DeployRequest", "EnrolmentBundle", "EnrolmentRefused", "EnrolmentRequest", "RenewalRequest",
    "EnvRequest",
    "HealthCheck",
    "InvalidName",
    "Limits", "MalformedRequest", "SigningKey", "StorageRequest", "T", "app_name", "canonical_request",
    "decode", "domain", "endorsement_statement", "env_key", "label", "loads_code", "release_statement",
    "sign_release", "sign_request", "stack", "verify_release", "verify_request",
    "BackupScheduleRequest", "ENV_MAX_BYTES", "InvalidSpec", "RESERVED_ENV", "RestoreRequest",
    "check_env", "check_spec", "check_storage", "image_id", "release_id",
]
