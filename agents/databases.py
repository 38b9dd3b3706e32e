"""Per-app MariaDB: a database, an account with rights on it alone, password resets, a final dump.

Apps reach MariaDB through its unix socket, mounted into their container, so MariaDB need not listen
anywhere a container can reach over the network.
"""
from __future__ import annotations

import contextlib
import gzip
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pymysql

from agents import defaults
from agents.errors import DatabaseError
from agents.protocol import app_name
from agents.state import DatabaseAccount

_MAX_IDENTIFIER = 64


class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class MariaDBSettings:
    """How the agent reaches MariaDB as its administrator, and how apps reach it."""

    user: str
    password: str
    host: str = "127.0.0.1"
    port: int = 3306
    socket: Path | None = None  # the administrator connects here rather than over TCP when set
    # The server's socket on this host, mounted into app containers; None: `socket`. (Over a
    # socket, MariaDB sees the app's account connect from `localhost`.)
    app_socket: Path | None = None

    @property
    def mounted_socket(self) -> Path | None:
        return self.app_socket or self.socket
    dump_binary: str = "mariadb-dump"
    client_binary: str = "mariadb"
    app_user_host: str = defaults.DB_USER_HOST


def identifier(app: str) -> str:
    """Return the database and user name of `app` (e.g. wadah_sim_pegawai).

    Injective: app names never hold '_', so '-' → '_' loses nothing, and at most 40 characters
    keep it within MariaDB's 64 for a database name.
    """
    name = defaults.DB_PREFIX + app_name(app).replace("-", "_")
    assert len(name) <= _MAX_IDENTIFIER, name
    return name


def grant_pattern(database: str) -> str:
    """Return `database` as a grant's database pattern that matches that database alone.

    In `GRANT ... ON db.*` MariaDB reads '_' and '%' as wildcards: `wadah_s1a2_3b4` would also
    grant `wadah_s1a2p3b4`, another app's database.
    """
    return database.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def _exact_account(cursor: pymysql.cursors.Cursor, name: str, host: str, password: str) -> None:
    """(Re)create account `name` with `password` and every right on database `name` alone.

    Made anew rather than altered: an account of an older agent may hold a wildcard grant
    (`wadah_a_b`.* matching wadah_aXb) that an administrator with rights on `wadah\\_%` alone
    cannot revoke, but may drop with its account.
    """
    cursor.execute("DROP USER IF EXISTS %s@%s", (name, host))
    cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))
    # `name` matches [a-z0-9_]: safe between backticks once its wildcards are escaped.
    cursor.execute(f"GRANT ALL PRIVILEGES ON `{grant_pattern(name)}`.* TO %s@%s",  # noqa: S608
                   (name, host))


@contextlib.contextmanager
def _option_file(directory: Path, user: str, password: str) -> Iterator[str]:
    """Yield a private client option file: a password goes there, never on a command line."""
    with tempfile.NamedTemporaryFile("w", prefix=".client-", suffix=".cnf", dir=directory) as cnf:
        os.chmod(cnf.name, 0o600)
        cnf.write(f"[client]\nuser={user}\npassword={password}\n")
        cnf.flush()
        yield cnf.name


class Databases:
    """Creates, resets and drops the per-app databases on one MariaDB server."""

    def __init__(self, settings: MariaDBSettings) -> None:
        self.settings = settings

    @contextlib.contextmanager
    def _admin(self) -> Iterator[pymysql.cursors.Cursor]:
        s = self.settings
        where = {"unix_socket": str(s.socket)} if s.socket else {"host": s.host, "port": s.port}
        try:
            conn = pymysql.connect(user=s.user, password=s.password, autocommit=True,
                                   connect_timeout=defaults.DB_CONNECT_TIMEOUT_S, **where)
        except pymysql.MySQLError as exc:
            raise DatabaseError(f"MariaDB tidak dapat dihubungi: {exc.args[-1]}") from exc
        try:
            with conn.cursor() as cursor:
                yield cursor
        except pymysql.MySQLError as exc:
            raise DatabaseError(f"MariaDB menolak perintah: {exc.args[-1]}") from exc
        finally:
            conn.close()

    def _app_account(self, app: str) -> str:
        """Return the app's database and account name, never the administrator's own."""
        name = identifier(app)
        if name == self.settings.user:
            raise DatabaseError(f"nama basis data {name} sama dengan akun administrator agen")
        return name

    def version(self) -> str:
        with self._admin() as cursor:
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
        return str(row[0]) if row else ""

    def exists(self, app: str) -> bool:
        with self._admin() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                           (identifier(app),))
            return cursor.fetchone() is not None

    def create(self, app: str) -> DatabaseAccount:
        """Create the app's database and account (replacing the password if they exist)."""
        name = self._app_account(app)
        account = DatabaseAccount(database=name, user=name,
                                  password=secrets.token_urlsafe(defaults.DB_PASSWORD_BYTES))
        host = self.settings.app_user_host
        with self._admin() as cursor:
            # `name` matches [a-z0-9_]: safe between backticks; values go as parameters.
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` "  # noqa: S608
                           "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            _exact_account(cursor, name, host, account.password)
        return account

    def reset_password(self, app: str) -> DatabaseAccount:
        """Give the app's account a new generated password and return the account."""
        return self.set_password(app, secrets.token_urlsafe(defaults.DB_PASSWORD_BYTES))

    def set_password(self, app: str, password: str) -> DatabaseAccount:
        """Give the app's account `password` and return the account."""
        name = self._app_account(app)
        with self._admin() as cursor:
            _exact_account(cursor, name, self.settings.app_user_host, password)
        return DatabaseAccount(database=name, user=name, password=password)

    def dump(self, app: str, directory: Path) -> Path:
        """Write a gzipped SQL dump of the app's database into `directory` and return its path."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = directory / f"{app_name(app)}-{time.strftime('%Y%m%dT%H%M%S')}.sql.gz"
        partial = target.with_suffix(".partial")
        try:
            with gzip.open(partial, "wb") as out:
                self._dump_into(out, ["--databases", identifier(app)], directory)
            os.chmod(partial, 0o600)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def dump_tables(self, app: str, target: Path) -> None:
        """Write the app's tables, routines and triggers to `target` as SQL that loads into any
        app's database (no CREATE DATABASE or USE): a backup restores as a new app too."""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            self._dump_into(out, [identifier(app)], target.parent)

    def load(self, app: str, account: DatabaseAccount, sql: Path) -> None:
        """Empty the account's database and run `sql` in it as the app's own account.

        Never as the administrator: the dump holds what the app wrote, and SQL read back from
        tenant data must not run with rights beyond the app's own database.
        """
        name = self._app_account(app)
        if account.database != name:
            raise DatabaseError(f"akun {account.user} bukan milik basis data {name}")
        with self._admin() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")  # noqa: S608
            cursor.execute(f"CREATE DATABASE `{name}` "  # noqa: S608
                           "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        socket = self.settings.mounted_socket
        where = [f"--socket={socket}"] if socket else [
            f"--host={self.settings.host}", f"--port={self.settings.port}", "--protocol=tcp"]
        binary = shutil.which(self.settings.client_binary) or self.settings.client_binary
        with _option_file(sql.parent, account.user, account.password) as cnf, sql.open("rb") as source:
            try:
                proc = subprocess.run([binary, f"--defaults-extra-file={cnf}", *where, name],
                                      stdin=source, capture_output=True, check=False,
                                      timeout=defaults.DUMP_TIMEOUT_S)
            except (OSError, subprocess.SubprocessError) as exc:
                raise DatabaseError(f"memuat basis data {name} gagal: {exc}") from exc
        if proc.returncode != 0:
            raise DatabaseError(f"memuat basis data {name} gagal: "
                                f"{proc.stderr.decode(errors='replace').strip()[-500:]}")

    def _dump_into(self, out: _Writable, what: list[str], scratch: Path) -> None:
        s = self.settings
        binary = shutil.which(s.dump_binary) or s.dump_binary
        where = ([f"--socket={s.socket}"] if s.socket
                 else [f"--host={s.host}", f"--port={s.port}", "--protocol=tcp"])
        with _option_file(scratch, s.user, s.password) as cnf:
            argv = [binary, f"--defaults-extra-file={cnf}", *where, "--single-transaction",
                    "--routines", "--triggers", *what]
            try:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                assert proc.stdout is not None
                shutil.copyfileobj(proc.stdout, out)
                _, stderr = proc.communicate(timeout=defaults.DUMP_TIMEOUT_S)
            except (OSError, subprocess.SubprocessError) as exc:
                raise DatabaseError(f"dump basis data {what[-1]} gagal: {exc}") from exc
        if proc.returncode != 0:
            raise DatabaseError(f"dump basis data {what[-1]} gagal: "
                                f"{stderr.decode(errors='replace').strip()}")

    def drop(self, app: str) -> None:
        """Drop the app's database and account (nothing happens if they do not exist)."""
        name = identifier(app)
        with self._admin() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")  # noqa: S608
            cursor.execute("DROP USER IF EXISTS %s@%s", (name, self.settings.app_user_host))

    def connection_env(self, account: DatabaseAccount) -> dict[str, str]:
        """Return the variables an app reads its connection from, named as Laravel names them."""
        return {
            "DB_CONNECTION": "mysql",
            "DB_HOST": "localhost",
            "DB_PORT": "3306",
            "DB_DATABASE": account.database,
            "DB_USERNAME": account.user,
            "DB_PASSWORD": account.password,
            "DB_SOCKET": defaults.DB_CONTAINER_SOCKET,
        }
