"""Tunables of the testbed: addresses, ports, timeouts and names, in one place."""
from __future__ import annotations

HOST = "127.0.0.1"

# TCP port of each service that listens on one, and the environment variable that overrides it.
DEFAULT_PORTS: dict[str, int] = {
    "nginx": 18080,
    "clamd": 13310,
    "named": 15353,
    "mariadb": 13306,
    "postgres": 15432,
    "redis": 16379,
}
PORT_ENV_VARS: dict[str, str] = {
    "nginx": "WADAH_TESTBED_HTTP_PORT",
    "clamd": "WADAH_TESTBED_CLAMD_PORT",
    "named": "WADAH_TESTBED_DNS_PORT",
    "mariadb": "WADAH_TESTBED_MARIADB_PORT",
    "postgres": "WADAH_TESTBED_POSTGRES_PORT",
    "redis": "WADAH_TESTBED_REDIS_PORT",
}

TESTBED_SUBDIR = "testbed"  # inside Wadah's state dir (panel.config.state_dir)

# Seconds.
READY_TIMEOUT = 60.0  # from spawn until the service answers (dockerd is the slow one)
STOP_TIMEOUT = 30.0  # from the stop signal until SIGKILL
PROBE_TIMEOUT = 2.0  # one readiness probe (connect + request)
POLL_INTERVAL = 0.2
SETUP_TIMEOUT = 120.0  # one-time initialisation commands (initdb, mariadb-install-db, tsig-keygen)

LOG_TAIL_LINES = 25

# When the testbed runs as root, postgres (which refuses root), mariadbd and nginx's workers run as
# this unprivileged system user, created if missing.
SERVICE_USER = "wadah-testbed"

# The testbed's dockerd gets a bridge of its own rather than sharing docker0 with a system dockerd.
DOCKER_BRIDGE = "wadahtb0"  # at most 15 characters
DOCKER_BRIDGE_ADDRESS = "172.31.254.1/24"

DNS_ZONE = "contoh.go.id"
TSIG_KEY_NAME = "wadah-update"
TSIG_ALGORITHM = "hmac-sha256"

# The agent's administrator: '-' keeps it out of the names apps get (wadah_<app>), so no app can
# ever be given this account.
MARIADB_ADMIN_USER = "wadah-agent"
MARIADB_LEGACY_ADMIN_USER = "wadah_admin"  # before: an app named "admin" would have matched it
MARIADB_APP_DATABASES = "wadah\\_%"  # the databases the administrator has rights on
POSTGRES_USER = "wadah"
POSTGRES_DATABASE = "wadah_test"
POSTGRES_SUPERUSER = "postgres"
# Numbered Redis databases: parallel test runs each claim one of their own (tests/test_scale_out.py).
REDIS_DATABASES = 64
POSTGRES_BIN_DIRS = tuple(f"/usr/lib/postgresql/{major}/bin" for major in (15, 16, 17))

# Where the daemons live when they are not on PATH (sbin is often missing from a user's PATH).
EXTRA_BIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", *POSTGRES_BIN_DIRS)
