"""One call to the agent's API: its body, its answer, and the one shape of a refusal.

The pieces every route shares: strict JSON (no duplicate keys, no NaN), the size and length rules
of a request body, and the checks of the values a path or a query carries.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any, NoReturn

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from agents import protocol
from agents.protocol.artifacts import SHA256


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


def loggable(text: str, limit: int = 300) -> str:
    # A decoded path may hold newlines or escapes; a log line must stay one honest line.
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "…"


def request_target(request: Request) -> str:
    """Return the request target exactly as the client sent (and signed) it."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    query = request.environ.get("QUERY_STRING", "")
    return request.environ.get("PATH_INFO", "") + (f"?{query}" if query else "")


def content_length(request: Request) -> int:
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        raise Refusal(411, "length_required", "isi permintaan harus dengan Content-Length")
    raw = request.headers.get("Content-Length")
    if raw is None:
        return 0
    if not raw.isdigit():
        raise Refusal(400, "malformed_request", "Content-Length tidak sah")
    return int(raw)


def read_exactly(request: Request, length: int) -> bytes:
    if length == 0:
        return b""
    try:
        body = request.stream.read(length)
    except HTTPException as exc:
        raise Refusal(400, "incomplete_body", "isi permintaan terputus") from exc
    if len(body) != length:
        raise Refusal(400, "incomplete_body", "isi permintaan terputus")
    return body


def sha256_arg(value: str) -> str:
    if not SHA256.match(value):
        raise Refusal(400, "malformed_request",
                      "alamat artefak harus sha256 (64 heksadesimal kecil)")
    return value


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def int_arg(raw: str | None, name: str, default: int | None, lo: int, hi: int) -> int | None:
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,15}", raw) or not lo <= int(raw) <= hi:
        raise Refusal(400, "malformed_request", f"parameter {name} harus bilangan {lo}–{hi}")
    return int(raw)
