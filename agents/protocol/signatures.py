"""What each end signs and checks: requests (panel → agent), releases, and the release key's endorsement."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

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


# --- The release key's endorsement ---------------------------------------------------------------
# At enrolment the CA signs the release-signing public key, so an agent trusts that key only
# through the CA it pinned.

ENDORSEMENT_CONTEXT = b"wadah-release-signing-key-v1\n"


def endorsement_statement(release_key: ed25519.Ed25519PublicKey) -> bytes:
    """Return the bytes the CA signs to endorse the release-signing public key."""
    from cryptography.hazmat.primitives import serialization

    raw = release_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return ENDORSEMENT_CONTEXT + raw
