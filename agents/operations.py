"""What is done to an app that keeps its release: start, stop, restart, storage, certificate, removal."""
from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from agents import private_files, protocol
from agents.errors import HostOperationError, InvalidRequest
from agents.parts import AppState, HostParts, RemovalReport
from agents.state import REMOVED, RUNNING, STOPPED, AppRecord
from agents.volumes import MIB

logger = logging.getLogger(__name__)


class AppOperations:
    """Start, stop, restart, resize, certify and remove the apps of one host."""

    def __init__(self, parts: HostParts) -> None:
        self.parts = parts

    # --- start, stop, restart --------------------------------------------------------------------

    def start(self, app: str) -> AppState:
        """Start a stopped app and point its vhost back at it once it answers."""
        parts = self.parts
        with parts.state.lock_app(app):
            record = parts.load(app)
            parts.recover(record)
            release = parts.current(record)
            record.desired = RUNNING
            parts.state.save(record)
            parts.crash_loops.forget(app)  # someone is looking after it now: restart at once
            spec = parts.container_spec(record, release)
            try:
                if parts.runtime.status(spec.name) is None:
                    parts.runtime.run(spec, parts.user())
                else:
                    parts.runtime.start(spec.name)
                parts.runtime.wait_healthy(spec, release.spec.health)
                parts.publish(record)
            except BaseException:
                record.desired = STOPPED
                parts.state.save(record)
                with contextlib.suppress(HostOperationError):
                    parts.runtime.stop(spec.name)
                raise
            return parts.app_state(record)

    def stop(self, app: str) -> AppState:
        """Stop the app's container; its vhost answers 503 until it is started again."""
        parts = self.parts
        with parts.state.lock_app(app):
            record = parts.load(app)
            parts.recover(record)
            release = parts.current(record)
            record.desired = STOPPED
            parts.state.save(record)
            parts.publish(record)
            parts.runtime.stop(parts.container_name(record.name, release))
            return parts.app_state(record)

    def restart(self, app: str) -> AppState:
        """Restart the app's container (a short interruption) and wait until it answers."""
        parts = self.parts
        with parts.state.lock_app(app):
            record = parts.load(app)
            parts.recover(record)
            release = parts.current(record)
            record.desired = RUNNING
            parts.state.save(record)
            parts.crash_loops.forget(app)
            spec = parts.container_spec(record, release)
            if not parts.runtime.restart(spec.name):
                parts.runtime.run(spec, parts.user())
            parts.runtime.wait_healthy(spec, release.spec.health)
            parts.publish(record)
            return parts.app_state(record)

    # --- storage ---------------------------------------------------------------------------------

    def set_storage(self, app: str, storage_mb: int) -> AppState:
        """Give the app's writable data a new limit, keeping the data.

        A larger limit is applied while the app runs where the kernel allows it; otherwise, and to
        shrink, the app stops for the moment its volume is resized. A limit below what the data
        needs is refused (InvalidRequest) and changes nothing.
        """
        parts = self.parts
        try:
            protocol.check_storage(storage_mb)
        except protocol.InvalidSpec as exc:
            raise InvalidRequest(str(exc)) from exc
        with parts.state.lock_app(app):
            record = parts.load(app)
            parts.recover(record)
            data = parts.state.data_dir(app)
            volumes = parts.volumes
            if volumes.exists(app) and storage_mb != volumes.size_mb(app):
                usage = volumes.usage(app, data)
                if usage is not None and usage.used_bytes > storage_mb * MIB:
                    raise InvalidRequest(
                        f"data aplikasi {app} sudah memakai {-(-usage.used_bytes // MIB)} MiB;"
                        f" batas {storage_mb} MiB lebih kecil dari itu")
                grown = (usage is not None and usage.mounted and storage_mb > usage.limit_mb
                         and volumes.grow_online(app, data, storage_mb))
                if not grown:
                    self._offline(record, lambda: volumes.resize_offline(app, data, storage_mb))
            record.storage_mb = storage_mb
            parts.state.save(record)
            logger.info("storage limit of %s set to %d MiB", app, storage_mb)
            return parts.app_state(record)

    def _offline(self, record: AppRecord, action: Callable[[], None]) -> None:
        """Run `action` with the app's container stopped, then start it and wait until it answers."""
        parts = self.parts
        release = record.current
        stopped: str | None = None
        if release is not None and release.instance is not None:
            name = parts.container_name(record.name, release)
            if parts.runtime.status(name) in ("running", "restarting"):
                parts.runtime.stop(name)
                stopped = name
        try:
            action()
        finally:
            if stopped is not None and release is not None:
                spec = parts.container_spec(record, release)
                parts.runtime.start(stopped)
                parts.runtime.wait_healthy(spec, release.spec.health)

    # --- certificates ----------------------------------------------------------------------------

    def set_certificate(self, app: str, certificate_pem: str, key_pem: str) -> None:
        """Serve the app over TLS with its own certificate (full chain) and key."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            cert = x509.load_pem_x509_certificate(certificate_pem.encode())
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except ValueError as exc:
            raise InvalidRequest(f"sertifikat atau kunci tidak sah: {exc}") from exc
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        if (cert.public_key().public_bytes(serialization.Encoding.PEM, public)
                != key.public_key().public_bytes(serialization.Encoding.PEM, public)):
            raise InvalidRequest("kunci tidak cocok dengan sertifikat")
        parts = self.parts
        with parts.state.lock_app(app):
            record = parts.load(app)
            directory = parts.state.certs_dir(app)
            saved = {name: _read(directory / name) for name in ("fullchain.pem", "privkey.pem")}
            directory.mkdir(mode=0o700, exist_ok=True)
            private_files.write(directory / "fullchain.pem", certificate_pem)
            private_files.write(directory / "privkey.pem", key_pem)
            try:
                parts.write_vhosts({app: record})
            except BaseException:
                for name, text in saved.items():
                    if text is None:
                        (directory / name).unlink(missing_ok=True)
                    else:
                        private_files.write(directory / name, text)
                raise

    def remove_certificate(self, app: str) -> None:
        """Stop serving the app with its own certificate (a wildcard may still cover it)."""
        parts = self.parts
        with parts.state.lock_app(app):
            record = parts.load(app)
            shutil.rmtree(parts.state.certs_dir(app), ignore_errors=True)
            parts.write_vhosts({app: record})

    # --- removal ---------------------------------------------------------------------------------

    def remove(self, app: str) -> RemovalReport:
        """Remove the app: containers, vhost, network, code, data, logs, database (dumped first).

        Only the final database dump remains, in the state directory's dumps/.
        """
        parts = self.parts
        with parts.state.lock_app(app):
            record = parts.load(app)
            record.desired = REMOVED
            parts.state.save(record)
            return parts.finish_removal(record)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
