"""The testbed's services: for each one, how it is prepared, started, probed and described.

`Service` holds the lifecycle they share (pid file, port check, spawn, wait, stop, status); each
subclass only says what is particular to its daemon, so one screen shows one service.
"""
from __future__ import annotations

import http.client
import logging
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import time
from importlib.resources import files
from pathlib import Path
from typing import Any, ClassVar

import clamd
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import docker
import psycopg
import pymysql
from psycopg import sql

from panel.testbed import system
from panel.testbed.defaults import (
    DNS_ZONE,
    DOCKER_BRIDGE,
    DOCKER_BRIDGE_ADDRESS,
    HOST,
    MARIADB_ADMIN_USER,
    MARIADB_APP_DATABASES,
    MARIADB_LEGACY_ADMIN_USER,
    POLL_INTERVAL,
    PORT_ENV_VARS,
    POSTGRES_DATABASE,
    POSTGRES_SUPERUSER,
    POSTGRES_USER,
    PROBE_TIMEOUT,
    READY_TIMEOUT,
    TSIG_ALGORITHM,
    TSIG_KEY_NAME,
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


class Docker(Service):
    name = "docker"
    executable = "dockerd"

    @property
    def socket(self) -> Path:
        return self.dir / "docker.sock"

    def prepare(self) -> None:
        # data/ persists across down/up: it holds the locally built images.
        system.make_dirs(self.dir, self.dir / "data", self.dir / "exec", self.dir / "run")
        system.ensure_bridge(DOCKER_BRIDGE, DOCKER_BRIDGE_ADDRESS)

    def command(self) -> list[str]:
        # Its own bridge and no iptables rules: a system dockerd on docker0 keeps working beside
        # it, and neither hands out the other's container addresses. docker-proxy publishes ports.
        return [self.binary(),
                "--data-root", str(self.dir / "data"),
                "--exec-root", str(self.dir / "exec"),
                "--pidfile", str(self.dir / "run" / "dockerd.pid"),
                "--host", f"unix://{self.socket}",
                "--bridge", DOCKER_BRIDGE,
                "--iptables=false",
                "--ip", HOST]  # a port published without an address binds to loopback only

    def after_stop(self) -> None:
        # dockerd bind-mounts its data root; one stopped early in its start leaves the mount behind.
        system.unmount_under(self.dir / "data")

    def probe(self) -> None:
        client = docker.DockerClient(base_url=self.address(), timeout=PROBE_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()

    def address(self) -> str:
        return f"unix://{self.socket}"

    def extras(self) -> dict[str, Any]:
        return {"socket": str(self.socket), "data_root": str(self.dir / "data"),
                "bridge": DOCKER_BRIDGE}

    def sockets(self) -> list[Path]:
        return [self.socket, self.dir / "exec" / "containerd" / "containerd.sock"]


NGINX_CONF = """\
# Generated by `wadah testbed` at every start (panel/testbed/services.py); edits are lost.
daemon off;
{user}worker_processes 1;
pid {prefix}run/nginx.pid;
error_log stderr notice;

events {{
    worker_connections 512;
}}

http {{
    access_log {prefix}logs/access.log;
    client_body_temp_path {prefix}temp/client_body;
    proxy_temp_path {prefix}temp/proxy;
    fastcgi_temp_path {prefix}temp/fastcgi;
    uwsgi_temp_path {prefix}temp/uwsgi;
    scgi_temp_path {prefix}temp/scgi;
    default_type application/octet-stream;
    server_tokens off;

    server {{
        listen {listen} default_server;
        server_name _;
        return 404;
    }}

    include {prefix}sites/*.conf;
}}
"""


class Nginx(Service):
    name = "nginx"
    executable = "nginx"

    @property
    def prefix(self) -> str:
        return f"{self.dir}/"

    @property
    def conf(self) -> Path:
        return self.dir / "nginx.conf"

    @property
    def sites_dir(self) -> Path:
        return self.dir / "sites"

    def prepare(self) -> None:
        temp = self.dir / "temp"
        system.make_dirs(self.dir, self.sites_dir, self.dir / "logs", self.dir / "run", temp)
        # As root the master stays root (like production) and the workers use the testbed's user,
        # which must reach the temp directories the master creates for it, and the logs, which
        # each worker opens again itself when told to reopen them after a rotation.
        account = system.service_account()
        if account is not None:
            system.grant_traverse(temp, account)
            system.grant_traverse(self.dir / "logs", account)
        user = f"user {account.name};\n" if account else ""
        self.conf.write_text(NGINX_CONF.format(user=user, prefix=self.prefix, listen=self.tcp))

    def command(self) -> list[str]:
        return [self.binary(), "-p", self.prefix, "-c", str(self.conf), "-e", "stderr"]

    def probe(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", "/", headers={"Host": "testbed.invalid"})
            status = conn.getresponse().status
        finally:
            conn.close()
        if status != 404:
            raise RuntimeError(f"default server answered {status}, expected 404")

    def extras(self) -> dict[str, Any]:
        return {"http": self.tcp, "prefix": self.prefix, "conf": str(self.conf),
                "sites_dir": str(self.sites_dir), "binary": system.find_binary(self.executable)}


CLAMD_CONF = """\
# Generated by `wadah testbed` at every start (panel/testbed/services.py); edits are lost.
Foreground yes
LocalSocket {socket}
LocalSocketMode 660
TCPAddr {host}
TCPSocket {port}
DatabaseDirectory {database}
PidFile {dir}/run/clamd.pid
TemporaryDirectory {dir}/tmp
LogTime yes
SelfCheck 60
"""


def signatures_dir() -> Path:
    """Return the project's ClamAV signature directory (owned by the scanners package)."""
    return Path(str(files("scanners").joinpath("signatures")))


class Clamd(Service):
    name = "clamd"
    executable = "clamd"

    @property
    def socket(self) -> Path:
        return self.dir / "clamd.sock"

    @property
    def conf(self) -> Path:
        return self.dir / "clamd.conf"

    def prepare(self) -> None:
        system.make_dirs(self.dir, self.dir / "run", self.dir / "tmp")
        self.conf.write_text(CLAMD_CONF.format(socket=self.socket, host=HOST, port=self.port,
                                               database=signatures_dir(), dir=self.dir))

    def command(self) -> list[str]:
        return [self.binary(), "--config-file", str(self.conf)]

    def probe(self) -> None:
        answer = clamd.ClamdUnixSocket(path=str(self.socket), timeout=PROBE_TIMEOUT).ping()
        if answer != "PONG":
            raise RuntimeError(f"PING answered {answer!r}")

    def address(self) -> str:
        return f"unix://{self.socket}"

    def extras(self) -> dict[str, Any]:
        return {"socket": str(self.socket), "tcp": self.tcp, "database_dir": str(signatures_dir())}

    def sockets(self) -> list[Path]:
        return [self.socket]


NAMED_CONF = """\
// Generated by `wadah testbed` at every start (panel/testbed/services.py); edits are lost.
include "{key_file}";

options {{
    directory "{dir}";
    pid-file "{dir}/run/named.pid";
    session-keyfile "{dir}/run/session.key";
    managed-keys-directory "{dir}/run";
    listen-on port {port} {{ {host}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};

// No rndc channel: the system's own named may hold port 953.
controls {{ }};

zone "{zone}" {{
    type primary;
    file "{zone_file}";
    allow-update {{ key "{key_name}"; }};
}};
"""

ZONE_FILE = """\
$TTL 300
@   IN SOA ns.{zone}. hostmaster.{zone}. ( 1 3600 600 86400 300 )
    IN NS  ns.{zone}.
ns  IN A   {host}
"""

_TSIG_SECRET = re.compile(r'secret\s+"([^"]+)"')


def tsig_secret(key_file: str | Path) -> str:
    """Return the base64 secret of a key file written by tsig-keygen."""
    match = _TSIG_SECRET.search(Path(key_file).read_text())
    if match is None:
        raise ValueError(f"no secret in {key_file}")
    return match.group(1)


class Named(Service):
    name = "named"
    executable = "named"
    udp = True

    @property
    def conf(self) -> Path:
        return self.dir / "named.conf"

    @property
    def key_file(self) -> Path:
        return self.dir / f"{TSIG_KEY_NAME}.key"

    @property
    def zone_file(self) -> Path:
        return self.dir / "zones" / f"db.{DNS_ZONE}"

    def prepare(self) -> None:
        system.make_dirs(self.dir, self.dir / "run", self.zone_file.parent)
        if not self.key_file.exists():  # generated once: the panel stores this secret
            keygen = system.find_binary("tsig-keygen") or "tsig-keygen"
            key = system.run([keygen, "-a", TSIG_ALGORITHM, TSIG_KEY_NAME])
            system.write_secret(self.key_file, key.strip())
        if not self.zone_file.exists():  # then kept: dynamic updates live in it and its journal
            self.zone_file.write_text(ZONE_FILE.format(zone=DNS_ZONE, host=HOST))
        self.conf.write_text(NAMED_CONF.format(
            key_file=self.key_file, dir=self.dir, port=self.port, host=HOST, zone=DNS_ZONE,
            zone_file=self.zone_file, key_name=TSIG_KEY_NAME))

    def command(self) -> list[str]:
        return [self.binary(), "-c", str(self.conf), "-g", "-4"]  # -g: foreground, log to stderr

    def probe(self) -> None:
        query = dns.message.make_query(DNS_ZONE, dns.rdatatype.SOA)
        assert self.port is not None  # only docker has no port
        reply = dns.query.udp(query, HOST, port=self.port, timeout=PROBE_TIMEOUT)
        if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
            raise RuntimeError(f"SOA query answered {dns.rcode.to_text(reply.rcode())}")

    def extras(self) -> dict[str, Any]:
        return {"zone": DNS_ZONE, "tsig_key_name": TSIG_KEY_NAME, "tsig_algorithm": TSIG_ALGORITHM,
                "tsig_key_file": str(self.key_file)}


class MariaDB(Service):
    name = "mariadb"
    executable = "mariadbd"
    unprivileged = True

    @property
    def socket(self) -> Path:
        return self.dir / "mariadb.sock"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def password_file(self) -> Path:
        return self.dir / "admin.password"

    def prepare(self) -> None:
        system.make_dirs(self.dir, self.data, owner=self.account)
        if self.account is not None:
            system.grant_traverse(self.dir, self.account)
        if not (self.data / "mysql").is_dir():
            install_db = system.find_binary("mariadb-install-db") or "mariadb-install-db"
            system.run_setup([install_db, "--no-defaults", f"--datadir={self.data}",
                               "--auth-root-authentication-method=socket", "--skip-test-db"],
                              self.log, cwd=self.dir, account=self.account)
        if not self.password_file.exists():
            system.write_secret(self.password_file, secrets.token_urlsafe(24))

    def command(self) -> list[str]:
        return [self.binary(), "--no-defaults",  # --no-defaults must come first
                f"--datadir={self.data}",
                f"--socket={self.socket}",
                f"--pid-file={self.data / 'mariadbd.pid'}",
                f"--bind-address={HOST}",
                f"--port={self.port}",
                "--skip-name-resolve"]

    def _root(self) -> pymysql.connections.Connection:
        # unix_socket authentication: our system user is the MariaDB account (root when root).
        user = pwd.getpwuid(os.geteuid()).pw_name
        return pymysql.connect(unix_socket=str(self.socket), user=user,
                               connect_timeout=int(PROBE_TIMEOUT))

    def probe(self) -> None:
        with self._root() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")

    def bootstrap(self) -> None:
        """Create the agent's administrator, for TCP (127.0.0.1) and the socket (`localhost`).

        It may create accounts and has every right on the `wadah_…` databases alone, the grant the
        production guide gives the agent too.
        """
        password = system.read_secret(self.password_file)
        with self._root() as conn, conn.cursor() as cursor:
            for host in (HOST, "localhost"):
                cursor.execute("DROP USER IF EXISTS %s@%s", (MARIADB_LEGACY_ADMIN_USER, host))
            for account in ((MARIADB_ADMIN_USER, HOST), (MARIADB_ADMIN_USER, "localhost")):
                cursor.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                               (*account, password))
                cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (*account, password))
                cursor.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", account)
                cursor.execute("GRANT CREATE USER ON *.* TO %s@%s", account)
                databases = MARIADB_APP_DATABASES.replace("%", "%%")  # pymysql's own placeholders
                cursor.execute(f"GRANT ALL PRIVILEGES ON `{databases}`.* TO %s@%s "
                               "WITH GRANT OPTION", account)

    def address(self) -> str:
        return f"unix://{self.socket}"

    def extras(self) -> dict[str, Any]:
        return {"socket": str(self.socket), "tcp": self.tcp, "admin_user": MARIADB_ADMIN_USER,
                "admin_password_file": str(self.password_file)}

    def sockets(self) -> list[Path]:
        return [self.socket]


class Postgres(Service):
    name = "postgres"
    executable = "postgres"
    unprivileged = True  # postgres refuses to run as root
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM would wait for every client to leave

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "run"

    @property
    def password_file(self) -> Path:
        return self.dir / f"{POSTGRES_USER}.password"

    def prepare(self) -> None:
        system.make_dirs(self.dir, self.data, self.socket_dir, owner=self.account)
        if self.account is not None:
            system.grant_traverse(self.dir, self.account)
        if not (self.data / "PG_VERSION").exists():
            # Local (socket) connections are trusted: the socket directory is reachable only by the
            # testbed's user and root. TCP connections need the password.
            initdb = str(Path(os.path.realpath(self.binary())).with_name("initdb"))
            system.run_setup([initdb, "-D", str(self.data), "-U", POSTGRES_SUPERUSER,
                               "--auth-local=trust", "--auth-host=scram-sha-256",
                               "--encoding=UTF8", "--no-locale"],
                              self.log, cwd=self.dir, account=self.account)
        if not self.password_file.exists():
            system.write_secret(self.password_file, secrets.token_urlsafe(24))

    def command(self) -> list[str]:
        return [self.binary(), "-D", str(self.data), "-h", HOST, "-p", str(self.port),
                "-k", str(self.socket_dir)]

    def _superuser(self, **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=POSTGRES_SUPERUSER,
                               dbname="postgres", connect_timeout=int(PROBE_TIMEOUT), **kwargs)

    def probe(self) -> None:
        with self._superuser() as conn:
            conn.execute("SELECT 1")

    def bootstrap(self) -> None:
        password = system.read_secret(self.password_file)
        with self._superuser(autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (POSTGRES_USER,))
            verb = "ALTER" if exists.fetchone() else "CREATE"
            conn.execute(sql.SQL("{} ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(POSTGRES_USER), sql.Literal(password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (POSTGRES_DATABASE,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(POSTGRES_DATABASE), sql.Identifier(POSTGRES_USER)))

    def extras(self) -> dict[str, Any]:
        return {"url": f"postgresql://{POSTGRES_USER}@{self.tcp}/{POSTGRES_DATABASE}",
                "user": POSTGRES_USER, "database": POSTGRES_DATABASE,
                "password_file": str(self.password_file), "socket_dir": str(self.socket_dir)}

    def sockets(self) -> list[Path]:
        return [self.socket_dir / f".s.PGSQL.{self.port}"]


# In start order; `down` stops them in reverse.
SERVICES: tuple[type[Service], ...] = (Docker, Nginx, Clamd, Named, MariaDB, Postgres)
