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
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from agents import defaults, private_files, protocol
from agents.errors import AgentError
from agents.protocol import certificates
from agents.protocol.artifacts import SHA256, ArtifactMismatch, ArtifactStore, ArtifactTooLarge

logger = logging.getLogger(__name__)

_SIGNATURE = re.compile(r"^[A-Za-z0-9+/]{40,200}={0,2}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
LOG_SOURCES = ("app", "access", "error")  # the app's output, and its vhost's nginx logs


class Refusal(Exception):
    """A request the agent will not carry out; becomes the one error shape."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, **details: Any) -> Response:
    body = {"error": {"code": code, "message": message, **details}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _code(error: Exception) -> str:
    # UnknownApp → unknown_app: the panel matches on codes, people read the message.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


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


def parse_json(body: bytes) -> Any:
    """Parse a request body as JSON, refusing duplicate keys, NaN and Infinity."""
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise protocol.MalformedRequest(f"kunci ganda dalam JSON: {key!r}")
            result[key] = value
        return result

    def no_constant(name: str) -> NoReturn:
        raise protocol.MalformedRequest(f"nilai {name} tidak diterima")

    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicates,
                          parse_constant=no_constant)
    except protocol.MalformedRequest:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise protocol.MalformedRequest(f"isi permintaan bukan JSON yang sah: {exc}") from exc


def jsonable(value: Any) -> Any:
    """Return `value` (dataclasses, tuples, paths included) as plain JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return jsonable(to_dict() if callable(to_dict) else dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@dataclasses.dataclass(frozen=True)
class Call:
    """One authenticated request: the parsed request and who made it."""

    request: Request
    caller: str  # the panel certificate's fingerprint, for the log
    body: bytes = b""

    def json(self) -> Any:
        if self.body and self.request.mimetype != "application/json":
            raise Refusal(415, "unsupported_media_type", "isi permintaan harus application/json")
        return parse_json(self.body) if self.body else None

    def decode(self, kind: type[protocol.T]) -> protocol.T:
        return protocol.decode(kind, self.json())

    def no_body(self) -> None:
        if self.body:
            raise Refusal(400, "unexpected_body", "permintaan ini tidak membawa isi")


class AgentAPI:
    """The agent's JSON API as a WSGI application, driving `host` (an `agents.host.Host`)."""

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
            logger.exception("request %s %s failed", _loggable(request.method),
                             _loggable(request.path))
            response = error_response(500, "internal_error", "kesalahan di agen; lihat log agen")
        logger.info("%s %s %s caller=%s from=%s %.0fms", _loggable(request.method),
                    _loggable(request.path), response.status_code, caller, request.remote_addr,
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
        message = protocol.canonical_request(request.method, self.agent_name, _target(request),
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
                           _loggable(request.method), _loggable(request.path), nonce)
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
            result = getattr(self, f"on_{endpoint}")(call, **arguments)
        except protocol.InvalidName as exc:
            raise Refusal(400, "invalid_name", str(exc)) from exc
        except protocol.MalformedRequest as exc:
            raise Refusal(400, "malformed_request", str(exc)) from exc
        except AgentError as exc:
            details = {k: getattr(exc, k) for k in ("logs", "output") if getattr(exc, k, "")}
            raise Refusal(exc.status, _code(exc), str(exc), **details) from exc
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
        length = _content_length(request)
        if length > self.max_json_bytes:
            raise Refusal(413, "too_large",
                          f"isi permintaan melebihi batas {self.max_json_bytes} bita")
        body = _read_exactly(request, length)
        if hashlib.sha256(body).hexdigest() != request.environ["wadah.content_sha256"]:
            raise Refusal(401, "content_mismatch", "isi permintaan tidak sesuai tanda tangannya")
        return body

    # --- endpoints ----------------------------------------------------------------------------

    def on_ping(self, call: Call) -> dict[str, Any]:
        call.no_body()
        return {"agent": self.agent_name, "api_version": protocol.API_VERSION,
                "time": self.clock()}

    def on_facts(self, call: Call) -> Any:
        call.no_body()
        return self.host.facts()

    def on_reconcile(self, call: Call) -> Any:
        call.no_body()
        return self.host.reconcile()

    def on_artifact(self, call: Call, sha256: str) -> dict[str, Any]:
        call.no_body()
        sha256 = _sha256(sha256)
        if not self.store.has(sha256):
            raise Refusal(404, "unknown_artifact", f"artefak {sha256} tidak ada di agen ini")
        return {"sha256": sha256, "size": self.store.path(sha256).stat().st_size}

    def on_upload_artifact(self, call: Call, sha256: str) -> Response:
        sha256 = _sha256(sha256)
        request = call.request
        if request.environ["wadah.content_sha256"] != sha256:
            raise Refusal(400, "checksum_mismatch",
                          "digest isi permintaan tidak sama dengan sha256 artefak di alamat")
        length = _content_length(request)
        if length > self.max_artifact_bytes:
            raise Refusal(413, "too_large",
                          f"artefak melebihi batas {self.max_artifact_bytes} bita")
        try:
            stored, size = self.store.put(typing.cast(BinaryIO, request.stream),
                                          max_bytes=min(length, self.max_artifact_bytes),
                                          expected_sha256=sha256)
        except ArtifactTooLarge as exc:
            raise Refusal(413, "too_large", str(exc)) from exc
        except ArtifactMismatch as exc:
            raise Refusal(400, "checksum_mismatch", str(exc)) from exc
        except HTTPException as exc:  # the client went away before sending every byte
            raise Refusal(400, "incomplete_body", "isi permintaan terputus") from exc
        if size != length:
            raise Refusal(400, "incomplete_body", "isi permintaan terputus")
        body = json.dumps({"result": {"sha256": stored, "size": size}})
        return Response(body, status=201, mimetype="application/json")

    def on_deploy(self, call: Call, name: str) -> Any:
        deploy = call.decode(protocol.DeployRequest)
        spec = deploy.spec
        self._check_names(name, spec)
        if spec.stack == "dockerfile" and deploy.image_id is None:
            logger.warning("refused deploy of %s release %s: no signed image", name,
                           spec.release_id)
            raise Refusal(403, "image_signature_required",
                          "aplikasi dengan Dockerfile hanya dipasang dari image hasil build yang"
                          " berkas-berkasnya telah dipindai dan ditandatangani panel")
        if spec.stack != "dockerfile" and deploy.image_id is not None:
            raise Refusal(400, "malformed_request", "image_id hanya untuk aplikasi dengan Dockerfile")
        self._check_release(spec, deploy.verdict, deploy.signature, deploy.image_id)
        return self.host.deploy(spec, image_id=deploy.image_id)

    def on_build(self, call: Call, name: str) -> Any:
        build = call.decode(protocol.BuildRequest)
        spec = build.spec
        self._check_names(name, spec)
        if spec.stack != "dockerfile":
            raise Refusal(400, "not_buildable", "hanya aplikasi dengan Dockerfile yang dibangun")
        self._check_release(spec, build.verdict, build.signature)
        return self.host.build(spec)

    def on_build_output(self, call: Call, name: str, release_id: int) -> Response:
        call.no_body()
        path = self.host.build_output(name, release_id)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the WSGI server with the response
        size = os.fstat(handle.fileno()).st_size
        response = Response(wrap_file(call.request.environ, handle), status=200,
                            mimetype="application/x-tar", direct_passthrough=True)
        response.content_length = size
        return response

    def on_discard_build(self, call: Call, name: str, release_id: int) -> Any:
        call.no_body()
        self.host.discard_build(name, release_id)
        return {"app": name, "release_id": release_id}

    @staticmethod
    def _check_names(name: str, spec: protocol.AppSpec) -> None:
        if spec.name != name:
            raise Refusal(400, "name_mismatch",
                          f"nama aplikasi di alamat ({name}) dan di spesifikasi ({spec.name})"
                          " berbeda")
        if not SHA256.match(spec.artifact_sha256):
            raise Refusal(400, "malformed_request", "artifact_sha256 bukan sha256")

    def _check_release(self, spec: protocol.AppSpec, verdict: str, signature: str,
                       image_id: str | None = None) -> None:
        """Refuse a release the panel did not sign as scanned and deployable, or not stored here."""
        name = spec.name
        if image_id is not None and not protocol.IMAGE_ID.match(image_id):
            raise Refusal(400, "malformed_request", "image_id bukan id image (sha256:…)")
        if not protocol.verify_release(self.release_key, signature, name, spec.release_id,
                                       spec.artifact_sha256, verdict, image_id):
            logger.warning("refused release %s of %s: bad release signature", spec.release_id,
                           name)
            raise Refusal(403, "bad_release_signature",
                          "tanda tangan rilis tidak sah: artefak ini tidak disetujui panel")
        if verdict not in protocol.DEPLOYABLE_VERDICTS:
            logger.warning("refused release %s of %s: verdict %s", spec.release_id, name, verdict)
            raise Refusal(403, "verdict_refused",
                          f"artefak dengan putusan pemindaian {verdict!r} tidak boleh dipasang")
        if not self.store.has(spec.artifact_sha256):
            raise Refusal(404, "unknown_artifact",
                          f"artefak {spec.artifact_sha256} belum diunggah ke agen ini")
        if _file_sha256(self.store.path(spec.artifact_sha256)) != spec.artifact_sha256:
            logger.error("artifact %s in the store does not match its sha256",
                         spec.artifact_sha256)
            raise Refusal(409, "checksum_mismatch",
                          f"artefak {spec.artifact_sha256} di agen rusak: sha256 tidak cocok")

    def on_apps(self, call: Call) -> Any:
        call.no_body()
        return self.host.apps()

    def on_status(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.status(name)

    def on_remove(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.remove(name)

    def on_rollback(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.rollback(name)

    def on_start(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.start(name)

    def on_stop(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.stop(name)

    def on_restart(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.restart(name)

    def on_logs(self, call: Call, name: str) -> Any:
        call.no_body()
        args = call.request.args
        tail = _int_arg(args.get("tail"), "tail", default=defaults.API_LOG_TAIL,
                        lo=1, hi=defaults.API_LOG_TAIL_MAX)
        since = _int_arg(args.get("since"), "since", default=None, lo=0, hi=2**40)
        source = args.get("source", "app")
        if source not in LOG_SOURCES:
            raise Refusal(400, "malformed_request",
                          f"parameter source harus salah satu dari {', '.join(LOG_SOURCES)}")
        return self.host.logs(name, tail=tail, since=since, source=source)

    def on_stats(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.stats(name)

    def on_set_env(self, call: Call, name: str) -> Any:
        return self.host.set_env(name, call.decode(protocol.EnvRequest).env)

    def on_set_storage(self, call: Call, name: str) -> Any:
        return self.host.set_storage(name, call.decode(protocol.StorageRequest).storage_mb)

    def on_env(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.env(name)

    def on_database(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.database(name)

    def on_reset_database_password(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.reset_database_password(name)

    def on_set_certificate(self, call: Call, name: str) -> Any:
        certificate = call.decode(protocol.CertificateRequest)
        self.host.set_certificate(name, certificate.certificate, certificate.key)
        return {"app": name}

    def on_remove_certificate(self, call: Call, name: str) -> Any:
        call.no_body()
        self.host.remove_certificate(name)
        return {"app": name}

    def on_prune(self, call: Call) -> Any:
        call.no_body()
        return self.host.prune()


def _loggable(text: str, limit: int = 300) -> str:
    # A decoded path may hold newlines or escapes; a log line must stay one honest line.
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "…"


def _target(request: Request) -> str:
    """Return the request target exactly as the client sent (and signed) it."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = request.environ.get("QUERY_STRING", "")
    return request.environ.get("PATH_INFO", "") + (f"?{query}" if query else "")


def _content_length(request: Request) -> int:
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        raise Refusal(411, "length_required", "isi permintaan harus dengan Content-Length")
    raw = request.headers.get("Content-Length")
    if raw is None:
        return 0
    if not raw.isdigit():
        raise Refusal(400, "malformed_request", "Content-Length tidak sah")
    return int(raw)


def _read_exactly(request: Request, length: int) -> bytes:
    if length == 0:
        return b""
    try:
        body = request.stream.read(length)
    except HTTPException as exc:
        raise Refusal(400, "incomplete_body", "isi permintaan terputus") from exc
    if len(body) != length:
        raise Refusal(400, "incomplete_body", "isi permintaan terputus")
    return body


def _sha256(value: str) -> str:
    if not SHA256.match(value):
        raise Refusal(400, "malformed_request",
                      "alamat artefak harus sha256 (64 heksadesimal kecil)")
    return value


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _int_arg(raw: str | None, name: str, default: int | None, lo: int, hi: int) -> int | None:
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,15}", raw) or not lo <= int(raw) <= hi:
        raise Refusal(400, "malformed_request", f"parameter {name} harus bilangan {lo}–{hi}")
    return int(raw)
