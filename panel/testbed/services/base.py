"""The lifecycle every testbed service shares: pid file, port check, spawn, wait, stop, status.

Each subclass only says what is particular to its daemon, so one screen shows one service.
"""
from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from panel.testbed import system
from panel.testbed.defaults import (
    HOST,
    POLL_INTERVAL,
    PORT_ENV_VARS,
    READY_TIMEOUT,
)
from panel.testbed.errors import TestbedError
from panel.testbed.system import Account

logger = logging.getLogger(__name__)

UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL


class Service:
    """A daemon of the testbed; subclasses fill in the parts marked "per service"."""

    name: ClassVar[str]
    executable: ClassVar[str]  # looked up on PATH and in the sbin directories
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    unprivileged: ClassVar[bool] = False  # run as the testbed's system user when we are root
    udp: ClassVar[bool] = False  # binds its port over UDP as well as TCP

    def __init__(self, testbed_dir: Path, port: int | None = None) -> None:
        self.dir = testbed_dir / self.name
        self.port = port
        self.log = self.dir / f"{self.name}.log"
        self.pid_file = self.dir / f"{self.name}.pid"
        self.port_file = self.dir / f"{self.name}.port"  # the port the running daemon was given
        self._attempt = 0  # log offset where the current start attempt began

    # --- per service ---

    def prepare(self) -> None:
        """Create directories, one-time data (data dirs, keys, passwords) and the config file."""
        system.make_dirs(self.dir, owner=self.account)

    def command(self) -> list[str]:
        """Return the argument list that runs the daemon in the foreground."""
        raise NotImplementedError

    def probe(self) -> None:
        """Raise unless the daemon answers a real request."""
        raise NotImplementedError

    def bootstrap(self) -> None:
        """Create accounts and databases once a freshly started daemon answers."""

    def after_stop(self) -> None:
        """Clean up what the daemon leaves behind when it is killed before it can do so itself."""

    def address(self) -> str:
        return self.tcp

    def marker(self) -> str:
        """Return the text on the daemon's command line that tells our instance from any other."""
        return str(self.dir)

    def environment(self) -> dict[str, str] | None:
        """Return the daemon's environment (None: this process's own)."""
        return None

    def extras(self) -> dict[str, Any]:
        return {}

    def sockets(self) -> list[Path]:
        """Return the unix sockets the daemon creates."""
        return []

    # --- shared lifecycle ---

    @property
    def tcp(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def account(self) -> Account | None:
        return system.service_account() if self.unprivileged else None

    def binary(self) -> str:
        path = system.find_binary(self.executable)
        if path is None:
            raise self.failure(f"{self.executable} is not installed (not found on PATH or in sbin)")
        return path

    def running_pid(self) -> int | None:
        """Return the pid from our pid file if that process is alive and is our daemon."""
        pid = system.read_number(self.pid_file)
        binary = system.find_binary(self.executable)
        if pid is None or binary is None or not system.is_our_process(pid, binary, self.marker()):
            return None
        return pid

    def adopt_running_port(self) -> None:
        """If the daemon already runs, describe and probe it on the port it was started with."""
        recorded = system.read_number(self.port_file)
        if recorded is None or recorded == self.port or self.running_pid() is None:
            return
        logger.info("%s runs on port %s, the one it was started with (%s is asked for now)",
                    self.name, recorded, self.port)
        self.port = recorded

    def ready(self) -> bool:
        try:
            self.probe()
        except Exception:
            return False
        return True

    def failure(self, message: str) -> TestbedError:
        """Record `message` in the log; return an error carrying the log lines of this attempt."""
        system.log_line(self.log, f"error: {message}")
        return TestbedError(self.name, message, self.log, system.log_tail(self.log, self._attempt))

    def check_free(self) -> None:
        """Raise if another program holds one of our sockets or ports."""
        for path in self.sockets():
            if len(str(path).encode()) > UNIX_PATH_MAX:
                raise self.failure(f"socket path {path} is too long for a unix socket; "
                                   "use a shorter WADAH_STATE_DIR")
            if system.unix_socket_in_use(path):
                raise self.failure(f"socket {path} is in use by a process not started here")
        if self.port is None:
            return
        kinds = {"TCP": socket.SOCK_STREAM, **({"UDP": socket.SOCK_DGRAM} if self.udp else {})}
        variable = PORT_ENV_VARS.get(self.name)
        for proto, kind in kinds.items():
            if not system.port_free(HOST, self.port, kind):
                raise self.failure(f"port {self.tcp}/{proto} is already in use by a process not "
                                   f"started here; free it" + (f" or set {variable}" if variable else ""))

    def start(self) -> subprocess.Popen:
        """Prepare and spawn the daemon, writing our pid file; raise TestbedError on failure."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._attempt = system.log_line(self.log, f"starting {self.name}")
        self.check_free()
        try:
            self.prepare()
            proc = system.spawn(self.command(), self.log, cwd=self.dir, account=self.account,
                                env=self.environment())
        except TestbedError:
            raise
        except Exception as exc:
            raise self.failure(f"could not start: {exc}") from exc
        system.write_number(self.pid_file, proc.pid)
        if self.port is not None:
            system.write_number(self.port_file, self.port)
        return proc

    def wait_ready(self, proc: subprocess.Popen | None, timeout: float = READY_TIMEOUT) -> None:
        """Probe until the daemon answers; raise if it exits or the timeout passes first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.probe()
                return
            except Exception as exc:
                last = exc
            if proc is not None and proc.poll() is not None:
                raise self.failure(f"exited with status {proc.returncode} before answering")
            if proc is None and self.running_pid() is None:
                raise self.failure("stopped before answering")
            if time.monotonic() > deadline:
                raise self.failure(f"did not answer within {timeout:.0f} s (last probe: {last!r})")
            time.sleep(POLL_INTERVAL)

    def initialise(self) -> None:
        """Run `bootstrap`, turning its errors into a TestbedError."""
        try:
            self.bootstrap()
        except Exception as exc:
            raise self.failure(f"started, but setting it up failed: {exc!r}") from exc

    def stop(self) -> str:
        """Stop the daemon if our pid file names it; never signal another process."""
        pid = system.read_number(self.pid_file)
        if pid is None:
            return "not running"
        if self.running_pid() != pid:
            self.pid_file.unlink(missing_ok=True)
            return f"not running (removed stale pid file naming pid {pid})"
        return self._terminate(pid)

    def abort(self, proc: subprocess.Popen) -> str:
        """Stop a daemon that `start` spawned moments ago."""
        # No ownership check: the pid is certainly ours, and a process that has only just exec'd
        # can still show an empty command line.
        return self._terminate(proc.pid)

    def _terminate(self, pid: int) -> str:
        outcome = system.terminate(pid, self.stop_signal)
        self.after_stop()
        self.pid_file.unlink(missing_ok=True)
        system.log_line(self.log, f"{outcome} (pid {pid})")
        return outcome

    def status(self) -> dict[str, Any]:
        pid = self.running_pid()
        return {
            "running": pid is not None and self.ready(),
            "pid": pid,
            "address": self.address(),
            "log": str(self.log),
            **self.extras(),
        }
