"""The routes of the agent's API, in three groups: the host, signed releases, and running apps.

A route is a method `on_<endpoint>(call, **arguments)` of a group; `agents.api.AgentAPI` calls it
once the request is authenticated, and turns what it returns into the answer's `result`.
"""
from __future__ import annotations

import json
import logging
import os
import typing
from collections.abc import Callable
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric import ed25519
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from agents import defaults, protocol
from agents.api_calls import Call, Refusal, content_length, file_sha256, int_arg, sha256_arg
from agents.protocol.artifacts import SHA256, ArtifactMismatch, ArtifactStore, ArtifactTooLarge

logger = logging.getLogger(__name__)

LOG_SOURCES = ("app", "access", "error")  # the app's output, and its vhost's nginx logs


class HostRoutes:
    """The host as a whole: who it is, its facts, reconcile and prune."""

    def __init__(self, host: Any, agent_name: str, clock: Callable[[], float]) -> None:
        self.host = host
        self.agent_name = agent_name
        self.clock = clock

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

    def on_prune(self, call: Call) -> Any:
        call.no_body()
        return self.host.prune()


class ReleaseRoutes:
    """Artifacts, builds and deploys: what runs only under the panel's signature of its scan."""

    def __init__(self, host: Any, store: ArtifactStore, release_key: ed25519.Ed25519PublicKey,
                 max_artifact_bytes: int) -> None:
        self.host = host
        self.store = store
        self.release_key = release_key
        self.max_artifact_bytes = max_artifact_bytes

    def on_artifact(self, call: Call, sha256: str) -> dict[str, Any]:
        call.no_body()
        sha256 = sha256_arg(sha256)
        if not self.store.has(sha256):
            raise Refusal(404, "unknown_artifact", f"artefak {sha256} tidak ada di agen ini")
        return {"sha256": sha256, "size": self.store.path(sha256).stat().st_size}

    def on_upload_artifact(self, call: Call, sha256: str) -> Response:
        sha256 = sha256_arg(sha256)
        request = call.request
        if request.environ["wadah.content_sha256"] != sha256:
            raise Refusal(400, "checksum_mismatch",
                          "digest isi permintaan tidak sama dengan sha256 artefak di alamat")
        length = content_length(request)
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
        _check_names(name, spec)
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
        _check_names(name, spec)
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
        if file_sha256(self.store.path(spec.artifact_sha256)) != spec.artifact_sha256:
            logger.error("artifact %s in the store does not match its sha256",
                         spec.artifact_sha256)
            raise Refusal(409, "checksum_mismatch",
                          f"artefak {spec.artifact_sha256} di agen rusak: sha256 tidak cocok")


class AppRoutes:
    """An app that is kept on the host: its status, lifecycle, logs, environment and database."""

    def __init__(self, host: Any) -> None:
        self.host = host

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
        tail = int_arg(args.get("tail"), "tail", default=defaults.API_LOG_TAIL,
                       lo=1, hi=defaults.API_LOG_TAIL_MAX)
        since = int_arg(args.get("since"), "since", default=None, lo=0, hi=2**40)
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

    # --- backups and quarantine ------------------------------------------------------------------

    def on_backups(self, call: Call, name: str) -> Any:
        call.no_body()
        return {"items": self.host.backups(name)}

    def on_backup(self, call: Call, name: str) -> Any:
        call.no_body()
        return self.host.backup(name)

    def on_set_backup_schedule(self, call: Call, name: str) -> Any:
        return self.host.set_backup_schedule(name, call.decode(protocol.BackupScheduleRequest).hours)

    def on_restore_backup(self, call: Call, name: str, backup_id: str) -> Any:
        if not backup_id.isalnum() or len(backup_id) > 64:
            raise Refusal(400, "malformed_request", "id cadangan tidak sah")
        into = call.decode(protocol.RestoreRequest).into
        return self.host.restore_backup(name, backup_id, into)

    def on_findings(self, call: Call, name: str) -> Any:
        call.no_body()
        return {"items": self.host.findings(name)}

    def on_release_finding(self, call: Call, name: str, finding_id: str) -> Any:
        call.no_body()
        return self.host.release_finding(name, finding_id)

    def on_delete_finding(self, call: Call, name: str, finding_id: str) -> Any:
        call.no_body()
        self.host.delete_finding(name, finding_id)
        return {"app": name, "finding": finding_id}


def _check_names(name: str, spec: protocol.AppSpec) -> None:
    if spec.name != name:
        raise Refusal(400, "name_mismatch",
                      f"nama aplikasi di alamat ({name}) dan di spesifikasi ({spec.name})"
                      " berbeda")
    if not SHA256.match(spec.artifact_sha256):
        raise Refusal(400, "malformed_request", "artifact_sha256 bukan sha256")
