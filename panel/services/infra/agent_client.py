"""How the panel calls an agent: mutual TLS, and every request signed, timestamped and nonced.

    client = AgentClient("https://10.0.0.5:17443", agent_name="ch-01",
                         client_cert=ca.client_cert_path, client_key=ca.client_key_path,
                         ca_cert=ca.ca_cert_path)
    client.ensure_artifact(store.path(sha256), sha256)
    client.deploy(spec, verdict="clean", signature=ca.sign_release(...))

An app with its own Dockerfile is built first; the files the build made are fetched and scanned, and
only then is the image signed and deployed:

    built = client.build(spec, "clean", ca.sign_release(...))
    client.build_output(spec.name, spec.release_id, path, built["output"]["sha256"], max_bytes)
    client.deploy(spec, "clean", ca.sign_release(..., image_id=built["image_id"]),
                  image_id=built["image_id"])

The panel gets a client from `AgentGateway.client(host)`, never by building one.

Errors: this module is the one place an agent's failures become the panel's, so every caller sees
only two: `AgentUnavailable` when no answer came (connection, TLS, timeout), `AgentRefused` when the
agent answered with its error shape (`code`, `message`, `http_status`). Both are `Refused`, whose
message says why to the person asking.
"""
# The client lives in the panel, not in the package both ends share: only the panel calls agents,
# and here it raises the panel's own errors, so an agent's answer is translated once, in this file.
from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

import requests
from cryptography.hazmat.primitives import serialization

from agents import protocol
from agents.protocol import AppSpec
from panel.i18n import gettext as _
from panel.services.refused import Refused

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
DEPLOY_TIMEOUT_S = 900.0  # a deploy may build an image and wait for its health check
UPLOAD_TIMEOUT_S = 300.0


class AgentUnavailable(Refused):
    """No answer from the agent: refused or failed connection, TLS failure, or timeout."""

    def __init__(self, agent: str, error: object) -> None:
        super().__init__(_("Agen %(host)s tidak dapat dihubungi: %(error)s", host=agent, error=error))
        self.agent = agent


class AgentRefused(Refused):
    """The agent answered with an error: `code` says which, `message` says it to a person."""

    def __init__(self, status: int, code: str, message: str,
                 details: Mapping[str, Any] | None = None, agent: str | None = None) -> None:
        reason = message or code
        super().__init__(_("Agen %(host)s menolak: %(reason)s", host=agent, reason=reason) if agent
                         else reason)
        self.http_status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.agent = agent


class AgentClient:
    """Typed calls to one agent's `/v1` API."""

    def __init__(self, base_url: str, agent_name: str, client_cert: Path | str,
                 client_key: Path | str, ca_cert: Path | str, *,
                 timeout: float = READ_TIMEOUT_S, connect_timeout: float = CONNECT_TIMEOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        if not base_url.startswith("https://"):
            raise ValueError("alamat agen harus https://")
        self.base_url = base_url.rstrip("/")
        self.agent_name = agent_name
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.clock = clock
        key = serialization.load_pem_private_key(Path(client_key).read_bytes(), password=None)
        if not isinstance(key, protocol.SigningKey):
            raise ValueError("kunci klien panel harus kunci EC atau Ed25519")
        self._key = key
        self._session = requests.Session()
        self._session.cert = (str(client_cert), str(client_key))
        self._session.verify = str(ca_cert)
        self._session.trust_env = False  # never through a proxy from the environment

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- certificate pinning (host lifecycle) ---------------------------------------------------

    def pin_certificate(self, sha256_fingerprint: str) -> None:
        """Accept only the agent certificate of this sha256 (still issued by the panel's CA)."""
        self._session.mount("https://", _PinnedAdapter(sha256_fingerprint))

    # --- the API ------------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        """Return the agent's name, API version and clock."""
        result: dict[str, Any] = self.call("GET", "/v1/ping")
        return result

    def facts(self) -> dict[str, Any]:
        """Return what the agent knows of its host (capacity, versions, apps)."""
        result: dict[str, Any] = self.call("GET", "/v1/facts")
        return result

    def reconcile(self) -> Any:
        """Bring the host back to its desired state now."""
        return self.call("POST", "/v1/reconcile")

    def has_artifact(self, sha256: str) -> bool:
        try:
            self.call("GET", f"/v1/artifacts/{_sha256(sha256)}")
        except AgentRefused as refused:
            if refused.code == "unknown_artifact":
                return False
            raise
        return True

    def upload_artifact(self, source: Path | str | IO[bytes], sha256: str) -> dict[str, Any]:
        """Stream an artifact to the agent, which stores it only if its sha256 is `sha256`."""
        sha256 = _sha256(sha256)
        if isinstance(source, Path | str):
            with open(source, "rb") as stream:
                return self._upload(stream, sha256)
        return self._upload(source, sha256)

    def _upload(self, stream: IO[bytes], sha256: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "PUT", f"/v1/artifacts/{sha256}", data=stream, content_sha256=sha256,
            content_type="application/octet-stream", timeout=UPLOAD_TIMEOUT_S)
        return result

    def ensure_artifact(self, source: Path | str, sha256: str) -> None:
        """Upload an artifact unless the agent already has it."""
        if not self.has_artifact(sha256):
            self.upload_artifact(source, sha256)

    def deploy(self, spec: AppSpec, verdict: str, signature: str,
               image_id: str | None = None) -> Any:
        """Deploy a release; `signature` is the panel's over (app, release, sha256, verdict) and,
        for a Dockerfile app, the `image_id` its build made."""
        body: dict[str, Any] = {"spec": spec.to_dict(), "verdict": verdict, "signature": signature}
        if image_id is not None:
            body["image_id"] = image_id
        return self.call("POST", f"/v1/apps/{_name(spec.name)}/deploy", json_body=body,
                         timeout=DEPLOY_TIMEOUT_S)

    def build(self, spec: AppSpec, verdict: str, signature: str) -> dict[str, Any]:
        """Build a Dockerfile app's image from its signed bundle; return the image id and what
        the build made (`output`: sha256, size, files, unchanged, deleted)."""
        body = {"spec": spec.to_dict(), "verdict": verdict, "signature": signature}
        result: dict[str, Any] = self.call("POST", f"/v1/apps/{_name(spec.name)}/builds",
                                           json_body=body, timeout=DEPLOY_TIMEOUT_S)
        return result

    def build_output(self, name: str, release_id: int, destination: Path | str, sha256: str,
                     max_bytes: int) -> int:
        """Download the tar of the files a build made into `destination`; return its size.

        More than `max_bytes`, or other bytes than `sha256`, raise AgentRefused and leave no file.
        """
        sha256 = _sha256(sha256)
        target = f"/v1/apps/{_name(name)}/builds/{_release(release_id)}/output"
        digest, size = hashlib.sha256(), 0
        destination = Path(destination)
        if destination.exists():
            raise ValueError(f"{destination} sudah ada")
        try:
            with self._send("GET", target, b"", protocol.EMPTY_SHA256, None, UPLOAD_TIMEOUT_S,
                            stream=True) as response:
                if response.status_code != 200:
                    _result(response, self.agent_name)
                with destination.open("xb") as out:
                    for chunk in response.iter_content(chunk_size=1024 * 1024):
                        size += len(chunk)
                        if size > max_bytes:
                            too_large = _("berkas hasil build melebihi %(limit)s bita", limit=max_bytes)
                            raise AgentRefused(413, code="too_large", message=too_large,
                                               agent=self.agent_name)
                        digest.update(chunk)
                        out.write(chunk)
        except requests.exceptions.RequestException as exc:
            destination.unlink(missing_ok=True)
            raise AgentUnavailable(self.agent_name, exc) from exc
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        if digest.hexdigest() != sha256:
            destination.unlink(missing_ok=True)
            mismatch = _("berkas hasil build tidak sama dengan sha256 yang dilaporkan agen")
            raise AgentRefused(502, code="checksum_mismatch", message=mismatch, agent=self.agent_name)
        return size

    def discard_build(self, name: str, release_id: int) -> Any:
        """Drop a build no deploy will use: its image and its files."""
        return self.call("DELETE", f"/v1/apps/{_name(name)}/builds/{_release(release_id)}")

    def apps(self) -> Any:
        return self.call("GET", "/v1/apps")

    def status(self, name: str) -> Any:
        return self.call("GET", f"/v1/apps/{_name(name)}")

    def rollback(self, name: str) -> Any:
        return self.call("POST", f"/v1/apps/{_name(name)}/rollback", timeout=DEPLOY_TIMEOUT_S)

    def start(self, name: str) -> Any:
        return self.call("POST", f"/v1/apps/{_name(name)}/start")

    def stop(self, name: str) -> Any:
        return self.call("POST", f"/v1/apps/{_name(name)}/stop")

    def restart(self, name: str) -> Any:
        return self.call("POST", f"/v1/apps/{_name(name)}/restart")

    def logs(self, name: str, tail: int | None = None, since: int | None = None,
             source: str | None = None) -> str:
        """Return the app's recent log lines: its output, or `source` "access" / "error" (nginx)."""
        params = {k: str(v) for k, v in (("tail", tail), ("since", since), ("source", source))
                  if v is not None}
        return str(self.call("GET", f"/v1/apps/{_name(name)}/logs", params=params))

    def stats(self, name: str) -> Any:
        return self.call("GET", f"/v1/apps/{_name(name)}/stats")

    def env(self, name: str) -> dict[str, str]:
        """Return the app's own environment."""
        result: dict[str, str] = self.call("GET", f"/v1/apps/{_name(name)}/env")
        return result

    def set_env(self, name: str, env: Mapping[str, str]) -> Any:
        """Replace the app's environment and restart it with the new one."""
        return self.call("PUT", f"/v1/apps/{_name(name)}/env", json_body={"env": dict(env)},
                         timeout=DEPLOY_TIMEOUT_S)

    def set_storage(self, name: str, storage_mb: int) -> Any:
        """Give the app's writable data a new limit (MiB); return the app's status with its usage."""
        return self.call("PUT", f"/v1/apps/{_name(name)}/storage",
                         json_body={"storage_mb": int(storage_mb)}, timeout=DEPLOY_TIMEOUT_S)

    def remove(self, name: str) -> Any:
        return self.call("DELETE", f"/v1/apps/{_name(name)}", timeout=DEPLOY_TIMEOUT_S)

    def database(self, name: str) -> dict[str, str] | None:
        """Return the app's database connection (password included), or None."""
        result: dict[str, str] | None = self.call("GET", f"/v1/apps/{_name(name)}/database")
        return result

    def reset_database_password(self, name: str) -> Any:
        """Give the app's database account a new password and restart the app onto it."""
        return self.call("POST", f"/v1/apps/{_name(name)}/database/password",
                         timeout=DEPLOY_TIMEOUT_S)

    def set_certificate(self, name: str, certificate_pem: str, key_pem: str) -> Any:
        """Serve the app over TLS with its own certificate (full chain) and key."""
        return self.call("PUT", f"/v1/apps/{_name(name)}/certificate",
                         json_body={"certificate": certificate_pem, "key": key_pem})

    def remove_certificate(self, name: str) -> Any:
        return self.call("DELETE", f"/v1/apps/{_name(name)}/certificate")

    # --- backups and findings ----------------------------------------------------------------

    def backups(self, name: str) -> list[dict[str, Any]]:
        """Return the app's backups, newest first (id, created_at, size, release_id, reason)."""
        result: dict[str, Any] = self.call("GET", f"/v1/apps/{_name(name)}/backups")
        return list(result.get("items") or [])

    def backup(self, name: str) -> dict[str, Any]:
        """Back the app up now; return the backup taken."""
        result: dict[str, Any] = self.call("POST", f"/v1/apps/{_name(name)}/backups",
                                           timeout=DEPLOY_TIMEOUT_S)
        return result

    def set_backup_schedule(self, name: str, hours: int) -> Any:
        """Back the app up every `hours` hours (0: only on demand)."""
        return self.call("PUT", f"/v1/apps/{_name(name)}/backups/schedule",
                         json_body={"hours": int(hours)})

    def restore_backup(self, name: str, backup_id: str, into: str | None = None) -> Any:
        """Restore a backup of `name` into it (after a safety backup) or into app `into`."""
        body = {"into": None if into is None else protocol.app_name(into)}
        return self.call("POST", f"/v1/apps/{_name(name)}/backups/{_token(backup_id)}/restore",
                         json_body=body, timeout=DEPLOY_TIMEOUT_S)

    def findings(self, name: str) -> list[dict[str, Any]]:
        """Return what the agent quarantined or reported in the app's data, newest first."""
        result: dict[str, Any] = self.call("GET", f"/v1/apps/{_name(name)}/findings")
        return list(result.get("items") or [])

    def release_finding(self, name: str, finding_id: str) -> Any:
        """Put a quarantined file back (a false positive)."""
        return self.call("POST", f"/v1/apps/{_name(name)}/findings/{_token(finding_id)}/release")

    def delete_finding(self, name: str, finding_id: str) -> Any:
        """Delete a quarantined file's evidence."""
        return self.call("DELETE", f"/v1/apps/{_name(name)}/findings/{_token(finding_id)}")

    def prune(self) -> Any:
        """Drop releases beyond the retention, and images no kept release uses."""
        return self.call("POST", "/v1/prune", timeout=DEPLOY_TIMEOUT_S)

    # --- the channel --------------------------------------------------------------------------

    def signed_headers(self, method: str, target: str, content_sha256: str) -> dict[str, str]:
        """Return the timestamp, nonce, digest and signature headers for one request."""
        timestamp, nonce = int(self.clock()), secrets.token_hex(16)
        message = protocol.canonical_request(method, self.agent_name, target, timestamp, nonce,
                                             content_sha256)
        return {
            protocol.HEADER_TIMESTAMP: str(timestamp),
            protocol.HEADER_NONCE: nonce,
            protocol.HEADER_CONTENT_SHA256: content_sha256,
            protocol.HEADER_SIGNATURE: protocol.sign_request(self._key, message),
        }

    def call(self, method: str, path: str, *, json_body: Any = None, data: Any = None,
             content_sha256: str | None = None, content_type: str | None = None,
             params: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
        """Send one signed request and return its `result`, or raise AgentUnavailable or AgentRefused."""
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":")).encode()
            content_type = "application/json"
        if isinstance(data, bytes):
            content_sha256 = hashlib.sha256(data).hexdigest()
        elif data is None:
            data, content_sha256 = b"", protocol.EMPTY_SHA256
        if content_sha256 is None:
            raise ValueError("a streamed body needs its sha256")
        target = path + (f"?{urlencode(params)}" if params else "")
        with self._send(method, target, data, content_sha256, content_type, timeout) as response:
            return _result(response, self.agent_name)

    def _send(self, method: str, target: str, data: Any, content_sha256: str,
              content_type: str | None, timeout: float | None,
              stream: bool = False) -> requests.Response:
        headers: dict[str, str] = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        prepared = self._session.prepare_request(
            requests.Request(method, self.base_url + target, data=data, headers=headers))
        headers_signed = self.signed_headers(method, prepared.path_url, content_sha256)
        prepared.headers.update(headers_signed)
        try:
            return self._session.send(
                prepared, timeout=(self.connect_timeout, timeout or self.timeout),
                allow_redirects=False, stream=stream)
        except (requests.exceptions.SSLError, requests.exceptions.Timeout,
                requests.exceptions.ConnectionError) as exc:  # TLS, no answer in time, no connection
            raise AgentUnavailable(self.agent_name, exc) from exc


def _result(response: requests.Response, agent: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            details = {k: v for k, v in error.items() if k not in ("code", "message")}
            raise AgentRefused(response.status_code, error["code"], str(error.get("message", "")),
                               details, agent)
        unknown = _("jawaban agen tidak dikenali (HTTP %(status)s)", status=response.status_code)
        raise AgentRefused(response.status_code, code="bad_response", message=unknown, agent=agent)
    return body.get("result")


def _name(name: str) -> str:
    return quote(protocol.app_name(name), safe="")


def _release(release_id: int) -> int:
    if isinstance(release_id, bool) or not isinstance(release_id, int) \
            or not 0 < release_id < 2**31:
        raise ValueError(f"bukan nomor rilis: {release_id!r}")
    return release_id


def _sha256(sha256: str) -> str:
    if not protocol.SHA256_HEX.match(sha256):
        raise ValueError(f"bukan sha256: {sha256!r}")
    return sha256


def _token(value: str) -> str:
    # Backup and finding ids are the agent's hex ids: anything else never reaches a URL.
    if not isinstance(value, str) or not value.isalnum() or not value.isascii() or len(value) > 64:
        raise ValueError(f"bukan id: {value!r}")
    return value


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections accept one server certificate, named by its sha256."""

    def __init__(self, sha256_fingerprint: str) -> None:
        self._fingerprint = sha256_fingerprint.replace(":", "").lower()
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        # urllib3 checks the CA chain as before, then this fingerprint instead of the host name.
        kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(*args, **kwargs)
