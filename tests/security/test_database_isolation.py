"""Two OPDs' apps whose database names differ only where MariaDB's grant wildcard `_` stands.

The attack: app `sXp3b4` and app `sX-3b4` both ask for a database. The second one's code takes its own
DB_USERNAME/DB_PASSWORD from its environment and tries to list and open the first one's database.
"""
from __future__ import annotations

import secrets
from typing import Any

import pymysql
import pytest

from agents.databases import Databases, MariaDBSettings, grant_pattern, identifier
from agents.errors import DatabaseError
from agents.host import HostAgent
from agents.protocol import app_name
from tests.agents.support import fetch, spec
from tests.security.support import as_app

pytestmark = pytest.mark.slow

PROBE = """<?php
mysqli_report(MYSQLI_REPORT_OFF);
$db = new mysqli('localhost', getenv('DB_USERNAME'), getenv('DB_PASSWORD'), getenv('DB_DATABASE'),
                 0, getenv('DB_SOCKET'));
$seen = [];
foreach ($db->query('SHOW DATABASES')->fetch_all() as $row) { $seen[] = $row[0]; }
$other = $_GET['lain'] ?? '';
$opened = $other !== '' && $db->select_db($other) ? 'TERBUKA' : 'DITOLAK';
$read = $other !== '' ? $db->query("SELECT isi FROM `$other`.rahasia") : false;
echo implode(',', $seen), '|', $opened, '|', $read ? $read->fetch_row()[0] : 'TAKTERBACA';
"""


def test_an_app_cannot_open_a_database_its_name_matches_by_wildcard(host: HostAgent) -> None:
    token = secrets.token_hex(3)
    victim, attacker = f"s{token}p3b4", f"s{token}-3b4"
    # Unescaped, the attacker's grant `wadah_sX_3b4`.* would match the victim's wadah_sXp3b4.
    assert (identifier(victim), identifier(attacker)) == (f"wadah_s{token}p3b4", f"wadah_s{token}_3b4")
    host.deploy(spec(host, victim, 1, {"index.php": "<?php echo 'korban';\n"}, database=True))
    host.deploy(spec(host, attacker, 1, {"index.php": PROBE}, database=True))
    victim_db = identifier(victim)
    secret_row = "NIK 1603010101010001"
    as_app(host, victim, "php", "-r",
           "$d = new mysqli('localhost', getenv('DB_USERNAME'), getenv('DB_PASSWORD'),"
           " getenv('DB_DATABASE'), 0, getenv('DB_SOCKET'));"
           "$d->query('CREATE TABLE rahasia (isi TEXT)');"
           f"$d->query(\"INSERT INTO rahasia VALUES ('{secret_row}')\");")

    status, body, _ = fetch(host, f"{attacker}.contoh.go.id", f"/?lain={victim_db}")

    assert status == 200
    seen, opened, read = body.split("|")
    assert set(seen.split(",")) == {"information_schema", identifier(attacker)}
    assert (opened, read) == ("DITOLAK", "TAKTERBACA")
    assert secret_row not in body
    victim_view = as_app(host, victim, "php", "-r",
                         "$d = new mysqli('localhost', getenv('DB_USERNAME'), getenv('DB_PASSWORD'),"
                         " getenv('DB_DATABASE'), 0, getenv('DB_SOCKET'));"
                         "echo $d->query('SELECT isi FROM rahasia')->fetch_row()[0];")
    assert victim_view == secret_row


@pytest.mark.parametrize("app", ["ab", "s1a2-3b4", "a" * 40, "x-" * 19 + "yz"])
def test_database_names_are_injective_and_never_patterns(app: str) -> None:
    name = identifier(app_name(app))
    assert len(name) <= 64 and name.count("_") == app.count("-") + 1
    pattern = grant_pattern(name)
    assert pattern.replace("\\_", "").isalnum()  # every '_' escaped, nothing else special


def test_a_wildcard_grant_of_an_older_agent_is_taken_back(mariadb_admin: dict[str, Any],
                                                          testbed: dict[str, Any]) -> None:
    databases = Databases(MariaDBSettings(user=mariadb_admin["user"],
                                          password=mariadb_admin["password"],
                                          host=mariadb_admin["host"], port=mariadb_admin["port"]))
    app = f"s{secrets.token_hex(3)}-3b4"
    name, where = identifier(app), databases.settings.app_user_host
    databases.create(app)
    # As an older agent did, with the wider rights it then had (the server's root here).
    with pymysql.connect(unix_socket=testbed["mariadb"]["socket"], user="root",
                         autocommit=True) as root, root.cursor() as cursor:
        try:
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@%s", (name, where))
            databases.create(app)
            cursor.execute("SHOW GRANTS FOR %s@%s", (name, where))
            grants = [row[0] for row in cursor.fetchall()]
        finally:
            databases.drop(app)
    assert any(f"`{grant_pattern(name)}`.*" in grant for grant in grants), grants
    assert not any(f"`{name}`.*" in grant for grant in grants), grants


def test_no_app_is_given_the_agents_own_account(mariadb_admin: dict[str, Any]) -> None:
    """The agent's administrator is named outside the apps' names; were it not, it is refused."""
    assert not mariadb_admin["user"].startswith("wadah_")
    same = Databases(MariaDBSettings(user=identifier("admin"), password="x"))
    with pytest.raises(DatabaseError, match="administrator"):
        same.create("admin")


@pytest.mark.parametrize("first, second", [
    ("sistem-informasi-manajemen-kepegawaian-daerah", "sistem-informasi-manajemen-kepegawaian-daerahku"),
    ("a" * 40 + "b", "a" * 40 + "c"),
    ("ab-cd--ef", "ab-cd-ef"),
])
def test_distinct_subdomains_get_distinct_app_names(first: str, second: str) -> None:
    """An app's name becomes its database, account, container and vhost: a clash would share them."""
    from panel.services.infra.allocation import app_name_for

    names = {app_name_for(first), app_name_for(second)}
    assert len(names) == 2 and all(app_name(n) == n for n in names)
    assert len({identifier(n) for n in names}) == 2
