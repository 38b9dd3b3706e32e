"""MariaDB for the apps' databases and PostgreSQL for the panel's, each started by hand."""
from __future__ import annotations

import os
import pwd
import secrets
import signal
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from psycopg import sql

from panel.testbed import system
from panel.testbed.defaults import (
    HOST,
    MARIADB_ADMIN_USER,
    MARIADB_APP_DATABASES,
    MARIADB_LEGACY_ADMIN_USER,
    POSTGRES_DATABASE,
    POSTGRES_SUPERUSER,
    POSTGRES_USER,
    PROBE_TIMEOUT,
)
from panel.testbed.services.base import Service


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
