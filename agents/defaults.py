"""Tunables of the agent's host operations, in one place."""
from __future__ import annotations

from agents.protocol import names

# --- ownership -----------------------------------------------------------------------------------
# Every container, network, image and vhost the agent creates carries these marks; the agent touches
# nothing on the host without them (and never anything marked by another agent's id).
LABEL_AGENT = "org.wadah.agent"
LABEL_APP = "org.wadah.app"
LABEL_RELEASE = "org.wadah.release"
LABEL_INSTANCE = "org.wadah.instance"
LABEL_ARTIFACT = "org.wadah.artifact"  # on a built image: the sha256 of the bundle it was built from
NAME_PREFIX = "wadah"  # containers wadah-<app>-<release>-<instance>, networks wadah-<app>
VHOST_MARK = "# Managed by the wadah agent"

# --- runtime images ------------------------------------------------------------------------------
RUNTIME_IMAGES: dict[str, str] = {"static": "wadah/static:latest", "php": "wadah/php:8.2"}
# Images an app's own Dockerfile may name in FROM.
ALLOWED_BASE_IMAGES = frozenset({"wadah/static", "wadah/static:latest", "wadah/php:8.2"})
DOCKERFILE_BASE_STACK = {"wadah/static": "static", "wadah/static:latest": "static",
                         "wadah/php:8.2": "php"}
CONTAINER_PORT = 8080  # what the runtime images listen on inside the container
APP_MOUNT = "/srv/app"  # where the release's code is mounted, read-only
ENV_DOCROOT = "WADAH_DOCROOT"  # the document root, an absolute path at or below APP_MOUNT
ENV_WRITABLE = "WADAH_WRITABLE_PATHS"  # writable paths (relative, space-separated): PHP never runs
ENV_UPLOAD_MAX = "WADAH_PHP_UPLOAD_MAX_FILESIZE"
ENV_POST_MAX = "WADAH_PHP_POST_MAX_SIZE"
RESERVED_ENV = names.RESERVED_ENV  # an app's env may not name them (the protocol's rule)
ENV_MAX_BYTES = names.ENV_MAX_BYTES
APP_UID = 10000  # the unprivileged user the runtime images are made for
APP_GID = 10000
# Capabilities kept after dropping all: the runtime images need none (non-root, port above 1024).
CAPABILITIES: tuple[str, ...] = ()
# Scratch space on the read-only root (inside each container, not the host).
TMPFS: dict[str, str] = {
    "/tmp": "rw,noexec,nosuid,nodev,size=64m,mode=1777",  # noqa: S108
    "/run": "rw,noexec,nosuid,nodev,size=8m,mode=1777",
}
RESTART_POLICY = "unless-stopped"
STOP_TIMEOUT_S = 5  # SIGTERM → SIGKILL when stopping a container
LOG_MAX_SIZE = "10m"  # json-file log rotation per container
LOG_MAX_FILES = "3"

# --- ports ---------------------------------------------------------------------------------------
PORT_RANGE = (20000, 29999)  # 127.0.0.1 ports published for app containers
PORT_ATTEMPTS = 3  # tries at starting a container when its chosen port was taken meanwhile

# --- networks ------------------------------------------------------------------------------------
# One bridge per app, carved from this pool so that hundreds of apps fit (Docker's own default pools
# hold about thirty networks).
NETWORK_POOL = "10.213.0.0/16"
NETWORK_PREFIX = 28

# --- what app containers may reach (agents/firewall.py) ------------------------------------------
# Never reachable from an app, whatever the settings add: the private ranges where the panel, other
# agents and the data center's management networks live, and link-local (cloud metadata included).
APP_PROTECTED_NETWORKS: tuple[str, ...] = (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
# Internet egress: many PHP apps call outside APIs (payments, maps, mail relays, updates); a data
# center that wants none sets "deny" and lists what apps may still reach.
APP_EGRESS = "allow"
FIREWALL_CHAIN_PREFIX = "WADAH-APPS"  # chains WADAH-APPS-INPUT and WADAH-APPS-FORWARD
DOCKER_USER_CHAIN = "DOCKER-USER"  # where dockerd, when it manages iptables, leaves room for us
IPTABLES = "iptables"  # Debian's alternatives pick nft or legacy, the same one dockerd uses
IPTABLES_WAIT_S = 10  # iptables -w: longest wait for the xtables lock
IPTABLES_TIMEOUT_S = 30.0  # one iptables command
RESOLV_CONF_FILES = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")

# --- health, switch, drain -----------------------------------------------------------------------
HEALTHY_STATUS = range(200, 400)
PORT_POLL_S = 0.02  # between health probes while a new container does not answer at all
SWITCH_TIMEOUT_S = 10.0  # after the reload, until nginx answers from the new release
DRAIN_MIN_S = 0.3  # after the switch, before the old release may be stopped
DRAIN_MAX_S = 15.0  # longest wait for nginx's old workers to finish their requests
LOG_LINES_ON_FAILURE = 100

# --- releases and retention ----------------------------------------------------------------------
KEEP_RELEASES = 2  # previous releases kept (stopped) for rollback, besides the current one
APP_LOCK_WAIT_S = 2.0  # a second operation on a busy app waits this long, then is refused

# --- builds (stack "dockerfile") -----------------------------------------------------------------
BUILD_MEMORY_MB = 1024
BUILD_CPUSET = "0"  # one core: a build cannot take the whole host
BUILD_TIMEOUT_S = 600
BUILD_NETWORK = "none"
# The layers a build adds, read from `docker save` while their files are listed for the scan.
BUILD_LAYERS_MAX_BYTES = 1024 * 1024 * 1024
BUILD_REPORT_MAX_PATHS = 1000  # unchanged or deleted paths named in a build's answer
BUILD_KEEP_S = 24 * 3600  # a build no deploy used is dropped by the next prune after this

# --- app data volumes (agents/volumes.py) -------------------------------------------------------
# Each app's writable paths live on a filesystem of their own (a sparse ext4 image, loop-mounted), so
# a tenant that writes without end fills its own volume, never the host's disk.
# An app's limit on its writable data (MiB) is part of the protocol: the panel checks it too.
STORAGE_DEFAULT_MB = names.STORAGE_DEFAULT_MB
STORAGE_MIN_MB, STORAGE_MAX_MB = names.STORAGE_MIN_MB, names.STORAGE_MAX_MB
VOLUMES_SUBDIR = "volumes"  # in the state dir: <app>.img
VOLUME_MOUNT_OPTIONS = "loop,nosuid,nodev,noexec,noatime"  # data only: nothing there runs or is a device
VOLUME_BLOCK_BYTES = 4096
VOLUME_JOURNAL_MB = (4, 64)  # a journal of 1/64 of the volume, within these bounds
VOLUME_COMMAND_TIMEOUT_S = 60.0  # one mount, umount, losetup or mkfs
VOLUME_CHECK_TIMEOUT_S = 900.0  # one e2fsck, resize2fs or copy of old data: grows with the volume
VOLUME_DETACH_WAIT_S = 5.0  # after umount, for the kernel to let go of the loop device

# --- unpacking artifacts -------------------------------------------------------------------------
ARTIFACT_MAX_BYTES = 512 * 1024 * 1024  # unpacked size
ARTIFACT_MAX_FILES = 50_000

# --- nginx ---------------------------------------------------------------------------------------
NGINX_TIMEOUT_S = 30.0  # one `nginx -t` or `nginx -s reload`
UPLOAD_MAX_MB = 32
PROXY_CONNECT_TIMEOUT_S = 5
PROXY_SEND_TIMEOUT_S = 60
PROXY_READ_TIMEOUT_S = 60
# Response headers up to 16 KiB (big cookies), bodies up to 256 KiB in memory, then a temp file.
PROXY_BUFFER_SIZE = "16k"
PROXY_BUFFERS = "16 16k"
PROXY_BUSY_BUFFERS_SIZE = "32k"
# Idle connections each nginx worker keeps open to an app's container.
UPSTREAM_KEEPALIVE = 32
# Below the runtime images' own idle timeouts (Apache 5 s, nginx 30 s): nginx lets a connection
# go before the container would close it under a request.
UPSTREAM_KEEPALIVE_TIMEOUT_S = 4
UPSTREAM_KEEPALIVE_REQUESTS = 10_000
ACCESS_LOG_BUFFER = "64k"
ACCESS_LOG_FLUSH = "2s"
GZIP_LEVEL = 5
GZIP_MIN_LENGTH = 256
# text/html is always compressed once gzip is on.
GZIP_TYPES: tuple[str, ...] = (
    "text/plain", "text/css", "text/xml", "text/javascript", "text/csv", "text/markdown",
    "application/javascript", "application/x-javascript", "application/json",
    "application/ld+json", "application/manifest+json", "application/xml",
    "application/xhtml+xml", "application/rss+xml", "application/atom+xml",
    "application/wasm", "image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon",
    "font/ttf", "font/otf", "application/vnd.ms-fontobject",
)
# The agent rotates an app's nginx logs once they pass this size, keeping LOG_ROTATE_KEEP old
# ones (the newest plain, the others gzip-compressed), and has nginx reopen its files.
LOG_ROTATE_BYTES = 64 * 1024 * 1024
LOG_ROTATE_KEEP = 4
LOG_ROTATE_INTERVAL_S = 60.0
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = "max-age=31536000"
TLS_PROTOCOLS = "TLSv1.2 TLSv1.3"

# --- MariaDB -------------------------------------------------------------------------------------
DB_PREFIX = "wadah_"  # databases and users are wadah_<app with - as _>
DB_PASSWORD_BYTES = 24
DB_USER_HOST = "localhost"  # apps reach MariaDB through its socket, mounted into the container
DB_CONTAINER_SOCKET = "/run/mysqld/mysqld.sock"  # where PHP's mysqli/PDO look by default on Debian
DB_CONNECT_TIMEOUT_S = 5
DUMP_TIMEOUT_S = 600
# A removed app's final database dump stays in the state directory's dumps/ this long, then goes.
DUMP_RETENTION_DAYS = 30

# === control channel, enrolment and daemon (agents/api.py, agents/daemon.py) ====================
LISTEN = "127.0.0.1:17443"  # where the agent's HTTPS API listens
API_MAX_JSON_BYTES = 1024 * 1024  # a JSON request body
API_MAX_ARTIFACT_BYTES = 512 * 1024 * 1024  # one uploaded artifact (the panel's upload limit)
API_LOG_TAIL = 200  # log lines returned when the panel does not say
API_LOG_TAIL_MAX = 10_000
API_HANDSHAKE_TIMEOUT_S = 10.0  # from TCP accept until the TLS handshake is done
API_IO_TIMEOUT_S = 60.0  # longest silence on a connection while reading or writing
API_MAX_CONNECTIONS = 32  # connections served at once; more are closed at once
HEARTBEAT_S = 10.0  # the daemon's loop: heartbeat file, nonce pruning
RENEW_CHECK_S = 600.0  # how often the daemon checks whether its certificate is due for renewal
RECONCILE_INTERVAL_S = 300.0  # the safety net: a full reconcile even when no event came
DRIFT_INTERVAL_S = 2.0  # how often the managed vhosts are hashed against what was written
EVENTS_RECONNECT_S = (0.5, 4.0)  # first and longest wait before following Docker's events again
CRASH_WINDOW_S = 60.0  # deaths counted over this window ...
CRASH_LIMIT = 3  # ... this many of them make a crash loop
CRASH_BACKOFF_S = (10.0, 300.0)  # the agent's first and longest wait between its own restarts
BACKUPS_SUBDIR = "backups"  # the restic repository, its key and cache, under the agent's state
QUARANTINE_SUBDIR = "quarantine"  # files taken out of apps' data, kept as evidence
BACKUP_HOURS_DEFAULT = 24  # an app is backed up daily unless its schedule says otherwise
BACKUP_HOURS_MAX = 24 * 31
BACKUP_CHECK_S = 600.0  # how often the daemon looks for apps whose backup is due
WATCH_SWEEP_S = 300.0  # apps' data walked for what inotify missed (the worst case of a finding)
WATCH_SETTLE_S = 1.0  # a burst of writes is scanned once it has been quiet this long
WATCH_MAX_FILE_BYTES = 32 * 1024 * 1024  # larger files in an app's data are media, not code
WARM_STOP_TIMEOUT_S = 60.0  # on the first SIGTERM/SIGINT, longest wait for requests in flight
NONCE_DB = "nonces.sqlite3"  # in the state dir
ARTIFACTS_SUBDIR = "artifacts"  # in the state dir
HEARTBEAT_FILE = "heartbeat"  # in the state dir: the time of the last heartbeat
