"""The `wadah agent run` daemon: serves the API over mutual TLS and keeps the host reconciled.

Shaped like rq's worker: built with its dependencies, `run()` installs the signal handlers and the
app network's firewall (agents/firewall.py, repaired again at every reconcile), follows Docker's
events and nginx drift (agents/convergence.py: an app is put right within seconds), watches the
apps' data (agents/watch.py), backs up the apps whose schedule says so (agents/recovery.py), serves,
beats (heartbeat file, nonce pruning, certificate renewal, a periodic reconcile, nginx log
rotation), stops warm on the
first SIGTERM or SIGINT (no new connections, requests in flight finish) and cold on the second, and
always tears down.
"""
from __future__ import annotations

import logging
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from agents import defaults, private_files
from agents.api import AgentAPI, NonceLedger
from agents.convergence import Converger
from agents.watch import Watcher

logger = logging.getLogger(__name__)


class _RequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the API logs each request with its caller


class AgentServer(ThreadedWSGIServer):
    """A threaded WSGI server for the agent's API.

    The TLS handshake happens in each connection's own thread and under a timeout, not in the
    accepting thread, so a client that connects and stays silent holds up nobody; connections
    beyond `max_connections` are closed at once.
    """

    daemon_threads = True
    block_on_close = False  # a cold stop must not wait for requests; a warm one waits itself

    def __init__(self, host: str, port: int, app: Any, tls: ssl.SSLContext, *,
                 handshake_timeout: float = defaults.API_HANDSHAKE_TIMEOUT_S,
                 io_timeout: float = defaults.API_IO_TIMEOUT_S,
                 max_connections: int = defaults.API_MAX_CONNECTIONS) -> None:
        super().__init__(host, port, app, handler=_RequestHandler)
        self.ssl_context = tls  # werkzeug reads it for the URL scheme and its TLS error handling
        self.tls = tls
        self.handshake_timeout = handshake_timeout
        self.io_timeout = io_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._in_flight = 0
        self._idle = threading.Condition()

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"https://{host}:{self.port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            logger.warning("too many connections; closing one from %s", client_address)
            self.shutdown_request(request)
            return
        with self._idle:
            self._in_flight += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done()

    def _done(self) -> None:
        self._slots.release()
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.handshake_timeout)
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.warning("TLS handshake with %s refused: %s", client_address[0], exc)
            return
        try:
            connection.settimeout(self.io_timeout)
            self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]
        finally:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; return whether that happened within `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)


class ColdStop(SystemExit):
    """A second stop signal: leave now, without waiting for requests in flight."""


class AgentDaemon:
    """Runs the API server and the heartbeat loop until told to stop."""

    def __init__(self, server: AgentServer, host: Any, nonces: NonceLedger, state_dir: Path, *,
                 heartbeat_s: float = defaults.HEARTBEAT_S,
                 reconcile_interval_s: float = defaults.RECONCILE_INTERVAL_S,
                 rotate_interval_s: float = defaults.LOG_ROTATE_INTERVAL_S,
                 warm_stop_timeout_s: float = defaults.WARM_STOP_TIMEOUT_S,
                 backup_check_s: float = defaults.BACKUP_CHECK_S,
                 watcher: Watcher | None = None,
                 renewer: Callable[[], ssl.SSLContext | None] | None = None,
                 renew_check_s: float = defaults.RENEW_CHECK_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self.host = host
        self.nonces = nonces
        self.state_dir = Path(state_dir)
        self.heartbeat_s = heartbeat_s
        self.reconcile_interval_s = reconcile_interval_s
        self.rotate_interval_s = rotate_interval_s
        self.warm_stop_timeout_s = warm_stop_timeout_s
        self.clock = clock
        self._stopping = threading.Event()
        self._serving: threading.Thread | None = None
        self._saved_handlers: dict[int, Any] = {}
        self._next_reconcile = 0.0
        self._next_rotate = 0.0
        self._next_renew = 0.0
        self.renewer = renewer  # renews the certificate when due, returning the new TLS context
        self.renew_check_s = renew_check_s
        self.reconciles = 0
        self.converger: Converger | None = None
        self.watcher = watcher
        self.backup_check_s = backup_check_s
        self.failed = False  # the server died under it: the caller should exit non-zero

    def run(self) -> None:
        """Serve until a stop signal (or `request_stop`), then tear down."""
        self._install_signal_handlers()
        try:
            self._protect_network()
            self._start_converging()
            self._start_backups()
            if self.watcher is not None:
                self.watcher.start()
            self._serving = threading.Thread(target=self.server.serve_forever,
                                             kwargs={"poll_interval": 0.5},
                                             name="wadah-agent-api", daemon=True)
            self._serving.start()
            logger.info("agent API listening on %s", self.server.url)
            while not self._stopping.is_set():
                if not self._serving.is_alive():
                    logger.error("the API server stopped unexpectedly; stopping the agent")
                    self.failed = True
                    break
                self.heartbeat()
                self._stopping.wait(self.heartbeat_s)
            self._stop_warm()
        except ColdStop:
            logger.warning("cold stop: requests in flight are abandoned")
        finally:
            self._teardown()

    def request_stop(self) -> None:
        """Ask for a warm stop (what the first SIGTERM or SIGINT does)."""
        self._stopping.set()

    def heartbeat(self) -> None:
        """Do the loop's periodic work: heartbeat file, nonce pruning, renewal, reconcile, rotation."""
        now = self.clock()
        try:
            private_files.write(self.state_dir / defaults.HEARTBEAT_FILE, f"{now:.0f}\n")
            self.nonces.prune(now)
        except Exception:
            logger.exception("heartbeat failed")
        if self.renewer is not None and time.monotonic() >= self._next_renew:
            self._next_renew = time.monotonic() + self.renew_check_s
            self._renew()
        if time.monotonic() >= self._next_reconcile:
            self._next_reconcile = time.monotonic() + self.reconcile_interval_s
            self._reconcile()
        if time.monotonic() >= self._next_rotate:
            self._next_rotate = time.monotonic() + self.rotate_interval_s
            self._rotate_logs()
            self._prune_dumps(now)

    def _renew(self) -> None:
        assert self.renewer is not None
        try:
            context = self.renewer()
        except Exception:
            # The current certificate still serves; the next check tries again.
            logger.exception("renewing the agent certificate failed")
            return
        if context is not None:
            # Each new connection's handshake reads `tls`: no connection is dropped, none refused.
            self.server.tls = context
            self.server.ssl_context = context
            logger.info("agent certificate renewed; the API now serves the new one")

    def _rotate_logs(self) -> None:
        rotate = getattr(self.host, "rotate_logs", None)
        if rotate is None:
            return
        try:
            rotate()
        except Exception:
            logger.exception("rotating the nginx logs failed")

    def _prune_dumps(self, now: float) -> None:
        state = getattr(self.host, "state", None)
        if state is None:
            return
        try:
            for name in state.prune_dumps(now):
                logger.info("final database dump %s passed its retention and was deleted", name)
        except Exception:
            logger.exception("pruning the final database dumps failed")

    def _protect_network(self) -> None:
        protect = getattr(self.host, "protect_network", None)
        if protect is None:
            return
        try:
            protect()  # before the API serves: no container the panel asks for starts unguarded
        except Exception:
            logger.exception("installing the app network rules failed")

    def _start_converging(self) -> None:
        host = self.host
        if getattr(host, "events", None) is None:
            return  # a host without Docker events (tests' stand-ins): the periodic reconcile only
        self.converger = Converger(events=host.events, reconcile_app=host.reconcile_app,
                                   reconcile_all=host.reconcile, drifted=host.drifted,
                                   crash_loops=host.crash_loops)
        self.converger.start()

    def _start_backups(self) -> None:
        if getattr(self.host, "backup_due", None) is None:
            return
        threading.Thread(target=self._back_up_when_due, name="wadah-backups", daemon=True).start()

    def _back_up_when_due(self) -> None:
        # The first look waits a full period: an agent restarted in a loop does not back up each time.
        while not self._stopping.wait(self.backup_check_s):
            try:
                taken = self.host.backup_due()
                if taken:
                    logger.info("scheduled backup of %d apps taken", len(taken))
            except Exception:
                logger.exception("the scheduled backup failed")

    def _reconcile(self) -> None:
        reconcile = getattr(self.host, "reconcile", None)
        if reconcile is None:
            return
        try:
            report = reconcile()
            self.reconciles += 1
            logger.info("reconciled the host: %s", report)
        except Exception:
            # The API keeps serving: the panel must still see the agent to learn what is wrong.
            logger.exception("reconcile failed")

    def _stop_warm(self) -> None:
        logger.info("warm stop: no new connections; waiting up to %.0fs for requests in flight",
                    self.warm_stop_timeout_s)
        self.server.shutdown()
        if not self.server.wait_idle(self.warm_stop_timeout_s):
            logger.warning("requests still in flight after %.0fs; stopping anyway",
                           self.warm_stop_timeout_s)

    def _teardown(self) -> None:
        self._restore_signal_handlers()
        self._stopping.set()
        if self.converger is not None:
            self.converger.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self._serving is not None and self._serving.is_alive():
            # A cold stop: break the accept loop without waiting for its handlers.
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            self._serving.join(2.0)
        self.server.server_close()
        self.nonces.close()
        logger.info("agent stopped")

    # --- signals ------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # embedded (tests): the owner stops it with request_stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._saved_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._saved_handlers.items():
            signal.signal(signum, handler)
        self._saved_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self._stopping.is_set():
            logger.info("%s: stopping warm (send it again to stop at once)", name)
            self._stopping.set()
            return
        logger.warning("%s again: stopping cold", name)
        raise ColdStop(1)


def build_api_server(api: AgentAPI, listen: str, tls: ssl.SSLContext,
                     **options: Any) -> AgentServer:
    """Bind the API server to `listen` (host:port; IPv6 hosts in brackets)."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"alamat dengar harus host:port, bukan {listen!r}")
    return AgentServer(host.strip("[]"), int(port), api, tls, **options)
