"""The agent's HTTP API (`/v1`): a WSGI application that trusts nothing it has not checked.

Every request, before its body is read or its route looked at, must come from the panel's client
certificate (the TLS layer has already checked it is the panel CA's), be signed with that
certificate's key over method, agent, path, body digest, timestamp and nonce, be fresh, and carry a
nonce never seen before. Then the body is read within a size limit, parsed as strict JSON and
decoded into the dataclasses of `agents.protocol`. Only then is the host touched. Every refusal has
one shape: `{"error": {"code": "...", "message": "..."}}`.

A deploy carries the panel's signature over the release's scan verdict. An app with its own
Dockerfile is built first, as an operation of its own, and what the build made is scanned before
anything of it runs:

    POST   /v1/apps/<name>/builds                      {spec, verdict, signature (v1)} → image id
                                                       and a description of the build's files
    GET    /v1/apps/<name>/builds/<release>/output     those files, as a tar, for the scan
    DELETE /v1/apps/<name>/builds/<release>            drop a build whose files were refused
    POST   /v1/apps/<name>/deploy                      {spec, verdict, signature (v2), image_id}

The deploy of a Dockerfile app is refused (403) without a v2 signature naming the image, and when
that image is not this release's build on this host.

This module authenticates and dispatches; the routes are in `agents.api_routes`, and what every
call shares (its body, its refusal) in `agents.api_calls`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from agents import defaults, private_files, protocol
from agents.api_calls import (
    Call,
    Refusal,
    content_length,
    error_response,
    jsonable,
    loggable,
    read_exactly,
    request_target,
)
from agents.api_routes import AppRoutes, HostRoutes, ReleaseRoutes
from agents.errors import HostOperationError
from agents.protocol import certificates
from agents.protocol.artifacts import ArtifactStore

logger = logging.getLogger(__name__)

_SIGNATURE = re.compile(r"^[A-Za-z0-9+/]{40,200}={0,2}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class NonceLedger:
    """The nonces seen within the replay window, in SQLite so a restart forgets none of them."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        private_files.private_sqlite(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=10)
        self._db.execute("CREATE TABLE IF NOT EXISTS nonces"
                         " (nonce TEXT PRIMARY KEY, expires_at REAL NOT NULL)")

    def remember(self, nonce: str, expires_at: float) -> bool:
        """Record `nonce`; return False if it was already seen (a replay)."""
        with self._lock:
            try:
                self._db.execute("INSERT INTO nonces VALUES (?, ?)", (nonce, expires_at))
            except sqlite3.IntegrityError:
                return False
        return True

    def prune(self, now: float) -> int:
        """Forget nonces whose requests are too old to be accepted anyway; return how many."""
        with self._lock:
            return self._db.execute("DELETE FROM nonces WHERE expires_at < ?", (now,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


class AgentAPI:
    """The agent's JSON API as a WSGI application, driving `host` (an `agents.host.HostAgent`)."""

    url_map = Map([
        Rule("/v1/ping", methods=["GET"], endpoint="ping"),
        Rule("/v1/facts", methods=["GET"], endpoint="facts"),
        Rule("/v1/reconcile", methods=["POST"], endpoint="reconcile"),
        Rule("/v1/artifacts/<sha256>", methods=["GET"], endpoint="artifact"),
        Rule("/v1/artifacts/<sha256>", methods=["PUT"], endpoint="upload_artifact"),
        Rule("/v1/apps", methods=["GET"], endpoint="apps"),
        Rule("/v1/apps/<name>", methods=["GET"], endpoint="status"),
        Rule("/v1/apps/<name>", methods=["DELETE"], endpoint="remove"),
        Rule("/v1/apps/<name>/deploy", methods=["POST"], endpoint="deploy"),
        Rule("/v1/apps/<name>/builds", methods=["POST"], endpoint="build"),
        Rule("/v1/apps/<name>/builds/<int(min=1, max=2147483647):release_id>/output",
             methods=["GET"], endpoint="build_output"),
        Rule("/v1/apps/<name>/builds/<int(min=1, max=2147483647):release_id>",
             methods=["DELETE"], endpoint="discard_build"),
        Rule("/v1/apps/<name>/rollback", methods=["POST"], endpoint="rollback"),
        Rule("/v1/apps/<name>/start", methods=["POST"], endpoint="start"),
        Rule("/v1/apps/<name>/stop", methods=["POST"], endpoint="stop"),
        Rule("/v1/apps/<name>/restart", methods=["POST"], endpoint="restart"),
        Rule("/v1/apps/<name>/logs", methods=["GET"], endpoint="logs"),
        Rule("/v1/apps/<name>/stats", methods=["GET"], endpoint="stats"),
        Rule("/v1/apps/<name>/env", methods=["GET"], endpoint="env"),
        Rule("/v1/apps/<name>/env", methods=["PUT"], endpoint="set_env"),
        Rule("/v1/apps/<name>/storage", methods=["PUT"], endpoint="set_storage"),
        Rule("/v1/apps/<name>/database", methods=["GET"], endpoint="database"),
        Rule("/v1/apps/<name>/database/password", methods=["POST"],
             endpoint="reset_database_password"),
        Rule("/v1/apps/<name>/certificate", methods=["PUT"], endpoint="set_certificate"),
        Rule("/v1/apps/<name>/certificate", methods=["DELETE"], endpoint="remove_certificate"),
        Rule("/v1/apps/<name>/backups", methods=["GET"], endpoint="backups"),
        Rule("/v1/apps/<name>/backups", methods=["POST"], endpoint="backup"),
        Rule("/v1/apps/<name>/backups/schedule", methods=["PUT"], endpoint="set_backup_schedule"),
        Rule("/v1/apps/<name>/backups/<backup_id>/restore", methods=["POST"],
             endpoint="restore_backup"),
        Rule("/v1/apps/<name>/findings", methods=["GET"], endpoint="findings"),
        Rule("/v1/apps/<name>/findings/<finding_id>/release", methods=["POST"],
             endpoint="release_finding"),
        Rule("/v1/apps/<name>/findings/<finding_id>", methods=["DELETE"],
             endpoint="delete_finding"),
        Rule("/v1/prune", methods=["POST"], endpoint="prune"),
    ], strict_slashes=False, merge_slashes=False)

    def __init__(self, host: Any, store: ArtifactStore, nonces: NonceLedger, agent_name: str,
                 release_key: ed25519.Ed25519PublicKey, *, clock: Callable[[], float] = time.time,
                 max_json_bytes: int = defaults.API_MAX_JSON_BYTES,
                 max_artifact_bytes: int = defaults.API_MAX_ARTIFACT_BYTES) -> None:
        self.host = host
        self.store = store
        self.nonces = nonces
        self.agent_name = agent_name
        self.release_key = release_key
        self.clock = clock
        self.max_json_bytes = max_json_bytes
        self.max_artifact_bytes = max_artifact_bytes
        groups = (HostRoutes(host, agent_name, clock),
                  ReleaseRoutes(host, store, release_key, max_artifact_bytes), AppRoutes(host))
        # endpoint → the route that answers it: `on_deploy` of ReleaseRoutes answers "deploy".
        self.routes: dict[str, Callable[..., Any]] = {
            name.removeprefix("on_"): getattr(group, name)
            for group in groups for name in dir(group) if name.startswith("on_")}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        caller = "-"
        try:
            caller = self._authenticate(request)
            response = self._dispatch(request, caller)
        except Refusal as refusal:
            response = error_response(refusal.status, refusal.code, refusal.message,
                                      **refusal.details)
        except Exception:
            logger.exception("request %s %s failed", loggable(request.method),
                             loggable(request.path))
            response = error_response(500, "internal_error", "kesalahan di agen; lihat log agen")
        logger.info("%s %s %s caller=%s from=%s %.0fms", loggable(request.method),
                    loggable(request.path), response.status_code, caller, request.remote_addr,
                    (time.monotonic() - started) * 1000)
        return response(environ, start_response)

    # --- authentication -----------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str:
        """Check who sent `request`, that it was signed, is fresh and new; return the caller."""
        connection = request.environ.get("werkzeug.socket")
        getpeercert = getattr(connection, "getpeercert", None)
        der = getpeercert(binary_form=True) if getpeercert is not None else None
        if not der:
            raise Refusal(401, "unauthenticated", "sertifikat klien panel diperlukan")
        certificate = x509.load_der_x509_certificate(der)
        caller = certificates.fingerprint(certificate)
        if not certificates.is_panel_certificate(certificate):
            logger.warning("refused a certificate that is not the panel's: %s (%s)",
                           certificate.subject.rfc4514_string(), caller)
            raise Refusal(403, "forbidden", "sertifikat ini bukan sertifikat klien panel")

        headers = request.headers
        timestamp = headers.get(protocol.HEADER_TIMESTAMP, "")
        nonce = headers.get(protocol.HEADER_NONCE, "")
        content_sha256 = headers.get(protocol.HEADER_CONTENT_SHA256, "")
        signature = headers.get(protocol.HEADER_SIGNATURE, "")
        if not (_TIMESTAMP.match(timestamp) and protocol.NONCE.match(nonce)
                and protocol.SHA256_HEX.match(content_sha256) and _SIGNATURE.match(signature)):
            raise Refusal(401, "unsigned_request",
                          "permintaan tanpa stempel waktu, nonce, digest isi atau tanda tangan"
                          " yang sah")
        message = protocol.canonical_request(request.method, self.agent_name, request_target(request),
                                             int(timestamp), nonce, content_sha256)
        if not protocol.verify_request(certificate.public_key(), signature, message):
            raise Refusal(401, "bad_signature", "tanda tangan permintaan tidak sah")

        now = self.clock()
        age = now - int(timestamp)
        if age > protocol.MAX_SKEW_S:
            raise Refusal(401, "stale_request",
                          f"permintaan sudah kedaluwarsa ({age:.0f} detik); periksa jam panel"
                          f" dan agen", agent_time=int(now))
        if -age > protocol.MAX_SKEW_S:
            raise Refusal(401, "future_request",
                          f"stempel waktu permintaan {-age:.0f} detik di masa depan; periksa jam"
                          f" panel dan agen", agent_time=int(now))
        if not self.nonces.remember(nonce, int(timestamp) + protocol.MAX_SKEW_S + 1):
            logger.warning("refused a replayed request %s %s (nonce %s)",
                           loggable(request.method), loggable(request.path), nonce)
            raise Refusal(401, "replayed_request", "permintaan ini sudah pernah diterima")
        request.environ["wadah.content_sha256"] = content_sha256
        return caller

    # --- dispatch -----------------------------------------------------------------------------

    def _dispatch(self, request: Request, caller: str) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, arguments = adapter.match()
        except MethodNotAllowed:
            raise Refusal(405, "method_not_allowed",
                          "metode tidak diizinkan untuk alamat ini") from None
        except NotFound:
            raise Refusal(404, "not_found", "alamat API tidak dikenal") from None
        except HTTPException as exc:  # e.g. a redirect for a trailing slash
            raise Refusal(404, "not_found", "alamat API tidak dikenal") from exc
        arguments = dict(arguments)
        if "name" in arguments:
            arguments["name"] = self._name(arguments["name"])
        if endpoint == "upload_artifact":
            call = Call(request, caller)
        else:
            call = Call(request, caller, self._read_body(request))
        try:
            result = self.routes[endpoint](call, **arguments)
        except protocol.InvalidName as exc:
            raise Refusal(400, "invalid_name", str(exc)) from exc
        except protocol.MalformedRequest as exc:
            raise Refusal(400, "malformed_request", str(exc)) from exc
        except HostOperationError as exc:
            details = {k: getattr(exc, k) for k in ("logs", "output") if getattr(exc, k, "")}
            raise Refusal(exc.status, exc.code, str(exc), **details) from exc
        if isinstance(result, Response):
            return result
        return Response(json.dumps({"result": jsonable(result)}), status=200,
                        mimetype="application/json")

    @staticmethod
    def _name(value: str) -> str:
        try:
            return protocol.app_name(value)
        except protocol.InvalidName as exc:
            raise Refusal(400, "invalid_name", str(exc)) from exc

    def _read_body(self, request: Request) -> bytes:
        length = content_length(request)
        if length > self.max_json_bytes:
            raise Refusal(413, "too_large",
                          f"isi permintaan melebihi batas {self.max_json_bytes} bita")
        body = read_exactly(request, length)
        if hashlib.sha256(body).hexdigest() != request.environ["wadah.content_sha256"]:
            raise Refusal(401, "content_mismatch", "isi permintaan tidak sesuai tanda tangannya")
        return body
