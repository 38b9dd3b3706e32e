"""Serving speed: what an app's vhost costs against one a careful administrator would write.

Deploys a static app and a PHP app through the agent (the panel's default limits: 256 MiB, 1 CPU),
then writes into the SAME nginx, for the same container port, a reference vhost (an `upstream`
with `keepalive 32`, an ordinary access log) and an "unpooled" one as Wadah wrote them before its
upstream pools (`proxy_pass http://127.0.0.1:PORT`, a new connection per request). `wrk`
(2 threads, 32 connections, 6 s, loopback) runs against each in turn, alternating, ROUNDS times.

Prints requests/s and p99 latency of each (median and range over the rounds), the ratio of
Wadah's vhost to the reference (target ≥ 0.8x for static; the exit status says whether it held),
and the TIME_WAIT sockets one run left with the app's port: on nginx's side (they hold nginx's
ephemeral ports) and on the app's side (the app closed the connection). Then stock
WordPress's front page (Debian's package and its default theme), once with the PHP image's
settings for read-only releases and once with Debian's defaults for the same settings
(PHP_DEBIAN_DEFAULTS), both through Wadah's vhost, at 8 connections for 10 s (a page takes tens of
milliseconds of CPU), with the container's CPU time per answer.

    bench/run serving            # 3 rounds
    bench/run serving 5          # 5 rounds
"""
from __future__ import annotations

import contextlib
import http.client
import io
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
from common import (
    ZONE,
    figure,
    median,
    ratio,
    scratch_host,
    store,
    unique,
)
from docker.models.containers import Container

from agents.host import HostAgent
from agents.images import RECIPE_LABEL, RECIPES_DIR, recipe_digest
from agents.protocol import AppSpec, HealthCheck, Limits

ROUNDS = 3
WRK_THREADS = 2
WRK_CONNECTIONS = 32
WRK_SECONDS = 6
LIMITS = Limits()  # what the panel gives an app: 256 MiB, 1 CPU, 128 processes
HEALTH = HealthCheck(attempts=100, interval_s=0.2, timeout_s=10)
STATIC_SITE = {
    "index.html": ("<!doctype html><html lang=id><meta charset=utf-8><title>Dinas Kominfo</title>"
                   "<link rel=stylesheet href=/css/situs.css><h1>Selamat datang</h1>"
                   + "<p>Layanan informasi publik Kabupaten Contoh.</p>" * 20 + "\n"),
    "css/situs.css": "body { font-family: sans-serif; margin: 2em } h1 { color: #064 }\n" * 30,
}
PHP_SITE = {"index.php": "<?php echo 'Selamat datang, ', htmlspecialchars(date('Y-m-d')), \"\\n\";\n"}
WORDPRESS = Path("/usr/share/wordpress")
# Debian's defaults for what the PHP image sets for read-only releases.
PHP_DEBIAN_DEFAULTS = {
    "WADAH_PHP_OPCACHE_VALIDATE_TIMESTAMPS": "1",
    "WADAH_PHP_OPCACHE_MEMORY": "128",
    "WADAH_PHP_REALPATH_CACHE_SIZE": "4096K",
    "WADAH_PHP_REALPATH_CACHE_TTL": "120",
}

REFERENCE = """\
upstream {pool} {{
    server 127.0.0.1:{port};
    keepalive 32;
}}

server {{
    listen {listen};
    server_name {name};
    access_log {log};
    location / {{
        proxy_pass http://{pool};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host {fqdn};
    }}
}}
"""
UNPOOLED = """\
server {{
    listen {listen};
    server_name {name};
    access_log {log};
    location / {{
        proxy_pass http://127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host {fqdn};
    }}
}}
"""


@dataclass
class Run:
    rps: float
    p99_ms: float
    failed: Counter[str]  # socket errors and non-2xx/3xx answers, by kind
    time_wait: int  # TIME_WAIT sockets of nginx's connections to the app's port the run left
    time_wait_server: int  # ... of the same connections, on the app's side (closed by the app)
    cpu_ms: float | None = None  # the app container's CPU time per answer


@dataclass
class Target:
    label: str
    fqdn: str  # the Host header wrk sends
    runs: list[Run]
    container: Container | None = None  # whose CPU time is counted


# --- wrk and ss ----------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


@dataclass(frozen=True)
class Load:
    connections: int = WRK_CONNECTIONS
    seconds: int = WRK_SECONDS
    timeout_s: int = 2  # wrk's own default: a slower answer counts as failed


VHOST_LOAD = Load()
# A WordPress front page takes a CPU for a good part of a second here: fewer connections, each
# allowed to wait, so that the figures are answers rather than timeouts.
WORDPRESS_LOAD = Load(connections=8, seconds=10, timeout_s=30)


def wrk(address: str, fqdn: str, path: str = "/", load: Load = VHOST_LOAD
        ) -> tuple[float, float, Counter[str], int]:
    """Run wrk against `address` with Host `fqdn`; return (requests/s, p99 ms, failed, sent)."""
    output = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{load.connections}", f"-d{load.seconds}s",
         f"--timeout={load.timeout_s}s", "--latency", "-H", f"Host: {fqdn}",
         f"http://{address}{path}"],
        capture_output=True, text=True, check=True, timeout=load.seconds + 90).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    sent = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    p99 = _duration_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    failed: Counter[str] = Counter()
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        failed["non-2xx/3xx"] += int(found.group(1))
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                          output):
        for kind, count in zip(("connect", "read", "write", "timeout"), found.groups(), strict=True):
            failed[kind] += int(count)
    return rps, p99, +failed, sent


def time_wait(port: int, side: str) -> set[tuple[str, str]]:
    """Return the loopback TIME_WAIT sockets whose `side` ("dport" or "sport") is `port`."""
    output = subprocess.run(
        ["ss", "-Htan", "state", "time-wait", f"( {side} = :{port} )"],
        capture_output=True, text=True, check=True).stdout
    found = set()
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            found.add((fields[-2], fields[-1]))
    return found


def measure(address: str, port: int, target: Target, path: str = "/",
            load: Load = VHOST_LOAD) -> None:
    before = {side: time_wait(port, side) for side in ("dport", "sport")}
    cpu_before = cpu_ns(target.container)
    rps, p99, failed, sent = wrk(address, target.fqdn, path, load)
    used = cpu_ns(target.container) - cpu_before
    cpu_ms = used / 1e6 / sent if target.container and sent and used >= 0 else None
    if used < 0:  # its CPU time started again from 0: Docker restarted the container meanwhile
        print(f"  {target.label}: the container was restarted during this run", flush=True)
    left = {side: len(time_wait(port, side) - before[side]) for side in before}
    target.runs.append(Run(rps, p99, failed, left["dport"], left["sport"], cpu_ms))


def cpu_ns(container: Container | None) -> int:
    """Return the CPU time the container used so far (0 without one)."""
    if container is None:
        return 0
    return int(container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"])


def report(prefix: str, targets: list[Target]) -> None:
    for target in targets:
        rps = [r.rps for r in target.runs]
        p99 = [r.p99_ms for r in target.runs]
        figure(f"{prefix}_{target.label}_rps", median(rps), "requests/s",
               f"{min(rps):,.0f}–{max(rps):,.0f} over {len(rps)} runs")
        figure(f"{prefix}_{target.label}_p99", median(p99), "ms",
               f"{min(p99):.2f}–{max(p99):.2f}")
        figure(f"{prefix}_{target.label}_time_wait", median([r.time_wait for r in target.runs]),
               "sockets", "nginx's side of its connections to the app's port, left by one run")
        figure(f"{prefix}_{target.label}_time_wait_app_side",
               median([r.time_wait_server for r in target.runs]), "sockets",
               "the app's side: the app closed them")
        cpu = [r.cpu_ms for r in target.runs if r.cpu_ms is not None]
        if cpu:
            figure(f"{prefix}_{target.label}_cpu_per_request", median(cpu), "ms",
                   f"{min(cpu):.1f}–{max(cpu):.1f}; the container's CPU time per answer")
        failed = sum((r.failed for r in target.runs), Counter())
        if failed:
            figure(f"{prefix}_{target.label}_failed", sum(failed.values()), "responses",
                   ", ".join(f"{kind} {count}" for kind, count in sorted(failed.items())))


# --- the vhosts the benchmark writes itself -------------------------------------------------------


@contextlib.contextmanager
def comparison_vhosts(host: HostAgent, app: str, fqdn: str, port: int) -> Iterator[dict[str, str]]:
    """Write the reference and the unpooled vhost for `port`; yield their names; remove them."""
    settings = host.vhosts.settings
    token = secrets.token_hex(3)
    names = {"reference": f"ref-{token}.bench.invalid", "unpooled": f"old-{token}.bench.invalid"}
    files = {kind: settings.sites_dir / f"bench-{kind}-{app}.conf" for kind in names}
    logs = {kind: settings.log_dir / f"bench-{kind}-{app}.access.log" for kind in names}
    texts = {
        "reference": REFERENCE.format(pool=f"bench_{token}", port=port, listen=settings.listen,
                                      name=names["reference"], log=logs["reference"], fqdn=fqdn),
        "unpooled": UNPOOLED.format(port=port, listen=settings.listen, name=names["unpooled"],
                                    log=logs["unpooled"], fqdn=fqdn),
    }
    try:
        for kind, text in texts.items():
            files[kind].write_text(text)
        host.vhosts.test()
        host.vhosts.reload()
        yield names
    finally:
        for path in (*files.values(), *logs.values()):
            path.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            host.vhosts.reload()


def deploy(host: HostAgent, name: str, files: dict[str, str] | bytes, stack: str,
           **fields: object) -> int:
    """Deploy `files` as app `name`; return its container's port."""
    if isinstance(files, bytes):
        sha256, _ = host.artifacts.put(io.BytesIO(files), max_bytes=256 * 1024 * 1024)
    else:
        sha256 = store(host, files)
    spec = AppSpec(name=name, fqdn=f"{name}.{ZONE}", stack=stack, release_id=1,
                   artifact_sha256=sha256, limits=LIMITS, health=HEALTH, **fields)  # type: ignore[arg-type]
    port = host.deploy(spec).port
    # The figures are about these recipes: a runtime image rebuilt from other ones meanwhile (by
    # another checkout using the same Docker) would make them about something else.
    container = host.runtime.client.containers.list(filters={"label": f"org.wadah.app={name}"})[0]
    if container.image.labels.get(RECIPE_LABEL) != recipe_digest(RECIPES_DIR / stack):
        raise RuntimeError(f"{name} runs an image not built from images/{stack}: rebuilt meanwhile")
    return port


def compare(host: HostAgent, address: str, prefix: str, files: dict[str, str], stack: str,
            rounds: int, path: str = "/") -> float:
    """Measure one app through Wadah's vhost, the reference and the unpooled vhost."""
    name = unique(f"bench-{prefix}")
    fqdn = f"{name}.{ZONE}"
    port = deploy(host, name, files, stack)
    try:
        with comparison_vhosts(host, name, fqdn, port) as names:
            targets = [Target("wadah", fqdn, []), Target("reference", names["reference"], []),
                       Target("unpooled", names["unpooled"], [])]
            wrk(address, fqdn, path)  # warm-up, not counted
            for _round in range(rounds):
                for target in targets:
                    measure(address, port, target, path)
        report(prefix, targets)
        return ratio(f"{prefix}_wadah_to_reference",
                     median([r.rps for r in targets[0].runs]),
                     median([r.rps for r in targets[1].runs]),
                     "≥ 0.8x" if stack == "static" else "")
    finally:
        host.remove(name)


# --- WordPress -----------------------------------------------------------------------------------

WP_CONFIG = """<?php
define('DB_NAME', getenv('DB_DATABASE'));
define('DB_USER', getenv('DB_USERNAME'));
define('DB_PASSWORD', getenv('DB_PASSWORD'));
define('DB_HOST', getenv('DB_HOST') . (getenv('DB_SOCKET') ? ':' . getenv('DB_SOCKET') : ''));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
{salts}
$table_prefix = 'wp_';
define('WP_DEBUG', false);
define('DISALLOW_FILE_MODS', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
if (!defined('ABSPATH')) {{
    define('ABSPATH', __DIR__ . '/');
}}
require_once ABSPATH . 'wp-settings.php';
"""
# No network here: WordPress's update checks would only wait for timeouts.
OFFLINE = ("<?php\nadd_filter('pre_http_request', function () {\n"
           "    return new WP_Error('luring', 'tanpa jaringan');\n});\n")
SALTS = ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT",
         "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")


def wordpress_archive() -> bytes:
    """Debian's WordPress (and its default theme) with links resolved and a wp-config.php."""
    buffer = io.BytesIO()
    salts = "\n".join(f"define('{k}', '{secrets.token_hex(32)}');" for k in SALTS)
    extra = {"wp-config.php": WP_CONFIG.format(salts=salts),
             "wp-content/mu-plugins/luring.php": OFFLINE}
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(WORDPRESS.rglob("*")):
            rel = path.relative_to(WORDPRESS).as_posix()
            if rel in extra or rel == ".htaccess" or path.is_dir():
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for rel, text in extra.items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def install_wordpress(address: str, fqdn: str) -> None:
    """Run WordPress's installer through nginx, as a visitor would."""
    password = secrets.token_urlsafe(16)
    form = urllib.parse.urlencode({
        "weblog_title": "Dinas Kominfo Contoh", "user_name": "admin",
        "admin_password": password, "admin_password2": password, "pw_weak": "1",
        "admin_email": "admin@contoh.go.id", "blog_public": "0"}).encode()
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("POST", "/wp-admin/install.php?step=2", body=form, headers={
            "Host": fqdn, "Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        conn.close()
    if response.status != 200 or "wp-login.php" not in body:
        raise RuntimeError(f"WordPress did not install: HTTP {response.status}")


def front_page(address: str, fqdn: str) -> tuple[int, int]:
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", "/", headers={"Host": fqdn})
        response = conn.getresponse()
        return response.status, len(response.read())
    finally:
        conn.close()


def wordpress(host: HostAgent, client: docker.DockerClient, address: str, rounds: int) -> None:
    """Stock WordPress's front page with the image's settings and with Debian's defaults."""
    if not (WORDPRESS / "wp-settings.php").is_file():
        print("wordpress: skipped (apt-get install wordpress wordpress-theme-twentytwentythree)")
        return
    archive = wordpress_archive()
    variants = {"tuned": {}, "debian_defaults": PHP_DEBIAN_DEFAULTS}
    targets: list[Target] = []
    ports: dict[str, int] = {}
    size = 0
    try:
        for label, env in variants.items():
            name = unique(f"bench-wp{label[0]}")
            fqdn = f"{name}.{ZONE}"
            ports[name] = deploy(host, name, archive, "php", database=True, env=dict(env))
            install_wordpress(address, fqdn)
            status, size = front_page(address, fqdn)
            if status != 200:
                raise RuntimeError(f"WordPress's front page answered HTTP {status}")
            container = client.containers.list(filters={"label": f"org.wadah.app={name}"})[0]
            targets.append(Target(label, fqdn, [], container))
        figure("wordpress_front_page_bytes", size, "bytes")
        for target in targets:  # warm-up: opcache, realpath caches, Apache's children
            wrk(address, target.fqdn, load=WORDPRESS_LOAD)
        for _round in range(rounds):
            for target, port in zip(targets, ports.values(), strict=True):
                measure(address, port, target, load=WORDPRESS_LOAD)
        report("wordpress", targets)
        ratio("wordpress_tuned_to_debian_defaults", median([r.rps for r in targets[0].runs]),
              median([r.rps for r in targets[1].runs]))
    finally:
        for name in ports:
            with contextlib.suppress(Exception):
                host.remove(name)


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench_serving: wrk is missing (apt-get install wrk)")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    started = time.monotonic()
    with scratch_host() as (host, status, client):
        address = status["nginx"]["http"]
        print(f"wrk: {WRK_THREADS} threads, {WRK_CONNECTIONS} connections, {WRK_SECONDS} s per "
              f"run, {rounds} rounds; apps at {LIMITS.memory_mb} MiB, {LIMITS.cpus:g} CPU")
        static = compare(host, address, "static", STATIC_SITE, "static", rounds)
        compare(host, address, "php", PHP_SITE, "php", rounds)
        wordpress(host, client, address, rounds)
    figure("serving_seconds", time.monotonic() - started, "s")
    if static < 0.8:
        sys.exit(1)


if __name__ == "__main__":
    main()
