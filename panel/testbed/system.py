"""What the testbed does to the host: processes, pid files, ports, accounts, file modes, logs."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panel.testbed.defaults import (
    EXTRA_BIN_DIRS,
    LOG_TAIL_LINES,
    POLL_INTERVAL,
    SERVICE_USER,
    SETUP_TIMEOUT,
    STOP_TIMEOUT,
)
from panel.testbed.errors import TestbedError

logger = logging.getLogger(__name__)


def run(argv: Sequence[str]) -> str:
    """Run a short host command and return its output; raise with its error output if it fails."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=SETUP_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def find_binary(name: str) -> str | None:
    """Return the absolute path of an executable, looking in the sbin directories too."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(EXTRA_BIN_DIRS))


# --- the unprivileged account daemons run as when we are root ---


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


@functools.cache
def service_account() -> Account | None:
    """Return the unprivileged testbed account (creating it if missing), or None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        logger.info("creating system user %s for the testbed daemons", SERVICE_USER)
        run(["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_USER])
        entry = pwd.getpwnam(SERVICE_USER)
    return Account(SERVICE_USER, entry.pw_uid, entry.pw_gid)


def grant_traverse(path: Path, account: Account) -> None:
    """Let `account` reach `path`: add a search-only ACL entry where a directory shuts it out."""
    # The default state dir is under /root (mode 0700) and postgres must not run as root: its
    # account needs to pass through, and nothing more (no listing, no reading).
    for directory in [*reversed(path.parents), path]:
        st = directory.stat()
        if st.st_uid == account.uid or st.st_mode & stat.S_IXOTH:
            continue
        if shutil.which("setfacl") is None:
            raise TestbedError(None, f"{account.name} cannot reach {path}: install the `acl` "
                                     "package or use a state directory it can reach")
        run(["setfacl", "-m", f"u:{account.name}:x", str(directory)])


def make_dirs(*paths: Path, owner: Account | None = None, mode: int = 0o700) -> None:
    """Create directories (parents too) and give them to `owner` when one is given."""
    for path in paths:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        if owner is not None:
            os.chown(path, owner.uid, owner.gid)
            path.chmod(mode)


# --- secrets ---


def write_secret(path: Path, value: str) -> None:
    """Write a secret to a new file readable only by its owner."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")


def read_secret(path: str | Path) -> str:
    """Return the secret stored in a file by `write_secret`."""
    return Path(path).read_text().strip()


# --- logs ---


def log_line(log: Path, text: str) -> int:
    """Append a marked line to a service log and return the log's size before it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as file:
        offset = file.tell()
        file.write(f"=== wadah testbed {time.strftime('%Y-%m-%d %H:%M:%S')}: {text}\n".encode())
    return offset


def log_tail(log: Path, since: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last lines of a log written after byte offset `since`."""
    try:
        with log.open("rb") as file:
            file.seek(max(since, log.stat().st_size - 64 * 1024))  # dockerd's log grows large
            text = file.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --- processes ---


def _as(account: Account | None) -> dict[str, Any]:
    """Return the Popen arguments that run a command as `account` (nothing when None)."""
    if account is None:
        return {}
    return {"user": account.uid, "group": account.gid, "extra_groups": []}


def spawn(
    argv: Sequence[str], log: Path, cwd: Path, account: Account | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """Start a daemon detached in its own session, stdout and stderr appended to its log."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=cwd, start_new_session=True, close_fds=True, env=env, **_as(account),
        )


def run_setup(argv: Sequence[str], log: Path, cwd: Path, account: Account | None = None) -> None:
    """Run a one-time initialisation command to completion, output appended to the log."""
    with log.open("ab") as out:
        result = subprocess.run(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=cwd, timeout=SETUP_TIMEOUT, **_as(account),
        )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, list(argv))


def is_alive(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie (reaping it if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def is_our_process(pid: int, binary: str, marker: str) -> bool:
    """Tell whether `pid` runs `binary` with `marker` (our state path) on its command line."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    same_program = os.path.realpath(exe) == os.path.realpath(binary)
    return same_program and marker in cmdline.replace("\0", " ") and is_alive(pid)


def read_number(path: Path) -> int | None:
    """Return the number stored in a pid (or port) file, or None."""
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_number(path: Path, number: int) -> None:
    """Store a number in a pid (or port) file, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{number}\n")
    tmp.replace(path)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until a process has exited; return False if it is still there after `timeout`."""
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL / 2)
    return True


def terminate(pid: int, sig: signal.Signals, timeout: float = STOP_TIMEOUT) -> str:
    """Send `sig`, wait for the exit and SIGKILL after `timeout`; return what happened."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    if wait_gone(pid, timeout):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_gone(pid, timeout)
    return f"killed (did not stop within {timeout:.0f} s)"


def ensure_bridge(name: str, address: str) -> None:
    """Create a network bridge with `address` (CIDR) unless it exists, and bring it up."""
    if Path("/sys/class/net", name).exists():
        return
    for argv in (["ip", "link", "add", "name", name, "type", "bridge"],
                 ["ip", "address", "add", address, "dev", name],
                 ["ip", "link", "set", name, "up"]):
        run(argv)


def unmount_under(path: Path) -> None:
    """Unmount every mount at or below `path`, deepest first."""
    mount_points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # The mount point is the 5th field, with spaces and the like escaped in octal.
        point = line.split()[4].encode().decode("unicode_escape")
        if point == str(path) or point.startswith(f"{path}/"):
            mount_points.append(point)
    for point in sorted(mount_points, key=len, reverse=True):
        try:
            run(["umount", point])
        except RuntimeError as exc:
            logger.warning("could not unmount %s: %s", point, exc)


# --- ports and sockets ---


def port_free(host: str, port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> bool:
    """Tell whether nothing is bound to host:port (TCP or UDP)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        # SO_REUSEADDR so that a port left in TIME_WAIT by our own last run still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def unix_socket_in_use(path: Path) -> bool:
    """Tell whether something listens on a unix socket; remove the file if it is stale."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
            return False
    return True


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock so that two `up`/`down` calls on one state dir take turns."""
    with lock_file.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)
