"""Per-app MariaDB on the testbed: rights on its own database only, password reset, final dump, and a
real PHP app with a database (WordPress, from Debian's package) installed through its vhost.
"""
from __future__ import annotations

import gzip
import io
import secrets
import tarfile
import urllib.parse
from pathlib import Path
from typing import Any

import pymysql
import pytest

from agents.databases import Databases, MariaDBSettings, identifier
from agents.errors import DatabaseError, InvalidRequest
from agents.host import HostAgent
from agents.protocol import HealthCheck, Limits
from tests.agents.support import fetch, spec, unique
from tests.support import unavailable

pytestmark = pytest.mark.slow

WORDPRESS = Path("/usr/share/wordpress")


@pytest.fixture
def databases(mariadb_admin: dict[str, Any]) -> Databases:
    return Databases(MariaDBSettings(user=mariadb_admin["user"],
                                     password=mariadb_admin["password"],
                                     host=mariadb_admin["host"], port=mariadb_admin["port"]))


def as_app(testbed: dict[str, Any], user: str, password: str, database: str | None = None
           ) -> pymysql.connections.Connection:
    """Connect the way an app container does: through the server's socket."""
    return pymysql.connect(unix_socket=testbed["mariadb"]["socket"], user=user, password=password,
                           database=database, connect_timeout=5)


def test_an_apps_account_reaches_its_own_database_only(databases: Databases,
                                                       testbed: dict[str, Any],
                                                       tmp_path: Path) -> None:
    app = unique("data")
    account = databases.create(app)
    try:
        assert account.database == account.user == identifier(app) == "wadah_" + app.replace("-", "_")
        assert len(account.password) >= 32
        with as_app(testbed, account.user, account.password, account.database) as conn, \
                conn.cursor() as cursor:
            cursor.execute("CREATE TABLE pegawai (nip VARCHAR(18) PRIMARY KEY, nama TEXT)")
            cursor.execute("INSERT INTO pegawai VALUES ('198501012010011001', 'Siti')")
            conn.commit()
            cursor.execute("SHOW DATABASES")
            assert {row[0] for row in cursor.fetchall()} == {"information_schema", account.database}
            for forbidden in ("SELECT * FROM mysql.user", "CREATE DATABASE wadah_lain",
                              "GRANT ALL ON *.* TO CURRENT_USER"):
                with pytest.raises(pymysql.MySQLError):
                    cursor.execute(forbidden)

        renewed = databases.reset_password(app)
        assert renewed.password != account.password
        with pytest.raises(pymysql.err.OperationalError):
            as_app(testbed, account.user, account.password)
        as_app(testbed, renewed.user, renewed.password).close()

        dump = databases.dump(app, tmp_path / "dumps")
        assert dump.stat().st_mode & 0o777 == 0o600
        text = gzip.decompress(dump.read_bytes()).decode()
        assert "CREATE TABLE `pegawai`" in text and "198501012010011001" in text
        assert renewed.password not in text
    finally:
        databases.drop(app)
    assert not databases.exists(app)
    with pytest.raises(pymysql.err.OperationalError):
        as_app(testbed, account.user, account.password)
    databases.drop(app)  # dropping what is gone is harmless


def test_an_unreachable_server_is_a_database_error() -> None:
    databases = Databases(MariaDBSettings(user="x", password="y", host="127.0.0.1", port=1))
    with pytest.raises(DatabaseError):
        databases.exists("portal")


PDO_APP = {
    "index.php": (
        "<?php\n"
        "$dsn = 'mysql:unix_socket=' . getenv('DB_SOCKET') . ';dbname=' . getenv('DB_DATABASE');\n"
        "$db = new PDO($dsn, getenv('DB_USERNAME'), getenv('DB_PASSWORD'));\n"
        "$db->exec('CREATE TABLE IF NOT EXISTS kunjungan (n INT)');\n"
        "$db->exec('INSERT INTO kunjungan VALUES (1)');\n"
        "echo getenv('DB_CONNECTION'), ':', $db->query('SELECT COUNT(*) FROM kunjungan')"
        "->fetchColumn();\n"),
}


def test_app_gets_laravel_named_variables_and_keeps_working_after_a_reset(
        host: HostAgent, testbed: dict[str, Any]) -> None:
    name = unique("pdo")
    result = host.deploy(spec(host, name, 1, PDO_APP, database=True))
    assert result.database is not None and result.database.database == identifier(name)
    fqdn = f"{name}.contoh.go.id"
    assert fetch(host, fqdn)[1].startswith("mysql:")
    old = result.database.password

    renewed = host.reset_database_password(name)

    assert renewed.database is not None and renewed.database.password != old
    assert host.database(name) == renewed.database
    status, body, _ = fetch(host, fqdn)
    assert status == 200 and body.startswith("mysql:")
    plain = _app_without_database(host)
    with pytest.raises(InvalidRequest):
        host.reset_database_password(plain)

    report = host.remove(name)

    assert report.dump is not None and Path(report.dump).is_file()
    assert "kunjungan" in gzip.decompress(Path(report.dump).read_bytes()).decode()
    assert host.databases is not None and not host.databases.exists(name)


def _app_without_database(host: HostAgent) -> str:
    name = unique("polos")
    host.deploy(spec(host, name, 1, {"index.php": "<?php echo 1;"}))
    return name


# --- WordPress ------------------------------------------------------------------------------------

WP_CONFIG = """<?php
// Reads its connection from the variables the agent gives every app with a database.
define('DB_NAME', getenv('DB_DATABASE'));
define('DB_USER', getenv('DB_USERNAME'));
define('DB_PASSWORD', getenv('DB_PASSWORD'));
define('DB_HOST', getenv('DB_HOST') . (getenv('DB_SOCKET') ? ':' . getenv('DB_SOCKET') : ''));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
{salts}
$table_prefix = 'wp_';
define('WP_DEBUG', false);
define('WP_DEFAULT_THEME', 'wadah');
define('DISALLOW_FILE_MODS', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
if (!defined('ABSPATH')) {{
    define('ABSPATH', __DIR__ . '/');
}}
require_once ABSPATH . 'wp-settings.php';
"""
THEME = {
    "wp-content/themes/wadah/style.css": "/*\nTheme Name: Wadah\n*/\n",
    "wp-content/themes/wadah/index.php": "<?php echo '<h1>', get_bloginfo('name'), '</h1>';\n",
    # The test machine has no network: WordPress's update checks, cron and self-requests would
    # only wait for timeouts.
    "wp-content/mu-plugins/luring.php": (
        "<?php\nadd_filter('pre_http_request', function () {\n"
        "    return new WP_Error('luring', 'tanpa jaringan');\n});\n"),
}
SALTS = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
         "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")


def wordpress_archive() -> bytes:
    """Debian's WordPress with its links resolved, our wp-config.php and a one-file theme."""
    buffer = io.BytesIO()
    salts = "\n".join(f"define('{k}', '{secrets.token_hex(32)}');" for k in SALTS)
    extra = {"wp-config.php": WP_CONFIG.format(salts=salts), **THEME}
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(WORDPRESS.rglob("*")):
            rel = path.relative_to(WORDPRESS).as_posix()
            if rel in extra or rel == ".htaccess" or path.is_dir():
                continue
            data = path.read_bytes()  # follows Debian's links into /usr/share/javascript etc.
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for rel, text in extra.items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_wordpress_installs_and_works_through_its_vhost(host: HostAgent,
                                                       mariadb_admin: dict[str, Any]) -> None:
    if not (WORDPRESS / "wp-settings.php").is_file():
        unavailable("Debian's wordpress package is not installed")
    sha256, _ = host.artifacts.put(io.BytesIO(wordpress_archive()), max_bytes=256 * 1024 * 1024)
    name = unique("wp")
    fqdn = f"{name}.contoh.go.id"
    result = host.deploy(spec(host, name, 1, sha256=sha256, database=True,
                              limits=Limits(memory_mb=256, cpus=1.0, pids=64),
                              health=HealthCheck(attempts=60, interval_s=0.2, timeout_s=10)))
    assert result.framework == "wordpress" and result.writable_paths == ["wp-content/uploads"]
    status, _, headers = fetch(host, fqdn)
    assert status == 302 and "/wp-admin/install.php" in headers["location"]

    form = urllib.parse.urlencode({
        "weblog_title": "Dinas Kominfo Contoh", "user_name": "admin",
        "admin_password": "Sandi-Uji-Yang-Panjang-1", "admin_password2": "Sandi-Uji-Yang-Panjang-1",
        "pw_weak": "1", "admin_email": "admin@contoh.go.id", "blog_public": "0"}).encode()
    status, body, _ = fetch_form(host, fqdn, "/wp-admin/install.php?step=2", form)
    assert status == 200 and "wp-login.php" in body

    status, body, _ = fetch(host, fqdn)
    assert status == 200 and "<h1>Dinas Kominfo Contoh</h1>" in body
    status, _, headers = fetch_form(host, fqdn, "/wp-login.php", urllib.parse.urlencode(
        {"log": "admin", "pwd": "Sandi-Uji-Yang-Panjang-1", "testcookie": "1"}).encode(),
        cookie="wordpress_test_cookie=WP%20Cookie%20check")
    assert status == 302 and "wordpress_logged_in_" in headers.get("set-cookie", "")

    with pymysql.connect(host=mariadb_admin["host"], port=mariadb_admin["port"],
                         user=mariadb_admin["user"], password=mariadb_admin["password"],
                         database=identifier(name)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT option_value FROM wp_options WHERE option_name = 'siteurl'")
        assert cursor.fetchone() == (f"http://{fqdn}",)
    report = host.remove(name)
    assert report.dump is not None and "wp_options" in gzip.decompress(
        Path(report.dump).read_bytes()).decode()


def fetch_form(host: HostAgent, fqdn: str, path: str, body: bytes, cookie: str = ""
               ) -> tuple[int, str, dict[str, str]]:
    import http.client

    address, _, port = host.vhosts.settings.probe.rpartition(":")
    conn = http.client.HTTPConnection(address, int(port), timeout=60)
    try:
        headers = {"Host": fqdn, "Content-Type": "application/x-www-form-urlencoded"}
        if cookie:
            headers["Cookie"] = cookie
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, text, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
