"""nginx vhosts: one file per app, changed only by certbot's contract.

Every change checkpoints the files it touches, writes them, runs `nginx -t`, reloads, and puts the
checkpoint back (and reloads again) on any failure: nginx never runs a half-written configuration.
"""
from __future__ import annotations

import contextlib
import gzip
import http.client
import ipaddress
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from agents import defaults, private_files
from agents.errors import VhostError
from agents.protocol import app_name, domain

logger = logging.getLogger(__name__)

INSTANCE_HEADER = "X-Wadah-Instance"  # tells the agent which release answers through nginx
_TOKEN = re.compile(r"[0-9a-z]{1,32}")
_ALL_APPS = "all"  # the operator directory whose *.conf every app's vhost includes
_MARK = re.compile(re.escape(defaults.VHOST_MARK)
                   + r" (?P<owner>[0-9a-z]+) for app (?P<app>[a-z0-9-]+);")


@dataclass(frozen=True)
class NginxSettings:
    """Where this host's nginx lives and how its vhosts listen."""

    sites_dir: Path  # a directory nginx includes as sites_dir/*.conf
    log_dir: Path  # per-app access and error logs
    extra_dir: Path | None = None  # the operator's own rules; default: wadah-extra beside sites_dir
    binary: str = "nginx"
    prefix: str | None = None  # nginx -p
    conf: str | None = None  # nginx -c
    pid_file: Path | None = None  # the master's pid file, to watch old workers drain
    listen: str = "80"  # the HTTP `listen` of every vhost
    probe: str = "127.0.0.1:80"  # host:port where the agent reaches that listen itself
    https_listen: str | None = None  # e.g. "443"; TLS needs this and a certificate
    wildcard_cert: Path | None = None
    wildcard_key: Path | None = None
    wildcard_domain: str | None = None  # e.g. "contoh.go.id": the wildcard covers *.contoh.go.id

    @property
    def extra(self) -> Path:
        """Return the operator directory every vhost includes (all/*.conf and <app>.conf)."""
        return self.extra_dir or self.sites_dir.parent / "wadah-extra"


@dataclass(frozen=True)
class Site:
    """What one app's vhost says."""

    app: str
    fqdn: str
    port: int | None  # the container's loopback port; None: the app is stopped (503)
    instance: str  # the token nginx echoes so the agent can see the switch happen
    upload_max_mb: int = defaults.UPLOAD_MAX_MB
    tls_cert: Path | None = None
    tls_key: Path | None = None
    listen_address: str | None = None  # the app's own IP: its server blocks listen only there


class Vhosts:
    """Writes, tests and reloads the vhost files of the apps one agent owns."""

    def __init__(self, settings: NginxSettings, owner: str,
                 lock: Callable[[], AbstractContextManager[None]] | None = None) -> None:
        self.settings = settings
        self.owner = owner
        self._lock = lock or contextlib.nullcontext

    # --- files -----------------------------------------------------------------------------------

    def path(self, app: str) -> Path:
        return self.settings.sites_dir / f"{defaults.NAME_PREFIX}-{app_name(app)}.conf"

    def log_paths(self, app: str) -> tuple[Path, Path]:
        """Return the app's (access log, error log)."""
        name = app_name(app)
        return (self.settings.log_dir / f"{name}.access.log",
                self.settings.log_dir / f"{name}.error.log")

    def log_files(self, app: str, keep: int = defaults.LOG_ROTATE_KEEP) -> list[Path]:
        """Return every log file the app may have: current, then rotated from newest to oldest."""
        found = []
        for path in self.log_paths(app):
            found.append(path)
            found += [rotated(path, n) for n in range(1, keep + 1)]
        return found

    def read(self, app: str) -> str | None:
        try:
            return self.path(app).read_text()
        except FileNotFoundError:
            return None

    def owned(self) -> dict[str, Path]:
        """Return the vhost files this agent wrote, by app name (files of others are ignored)."""
        found: dict[str, Path] = {}
        for path in sorted(self.settings.sites_dir.glob(f"{defaults.NAME_PREFIX}-*.conf")):
            try:
                with path.open() as file:
                    first = file.readline()
            except OSError:
                continue
            match = _MARK.match(first)
            if match and match["owner"] == self.owner and path == self.path(match["app"]):
                found[match["app"]] = path
        return found

    def certificate(self, site_fqdn: str,
                    own: tuple[Path, Path] | None) -> tuple[Path, Path] | None:
        """Return the (certificate, key) serving `site_fqdn`: its own, else a matching wildcard."""
        if self.settings.https_listen is None:
            return None
        if own is not None:
            return own
        s = self.settings
        if s.wildcard_cert and s.wildcard_key and s.wildcard_domain:
            head, _, rest = site_fqdn.partition(".")
            if rest == s.wildcard_domain and head:
                return s.wildcard_cert, s.wildcard_key
        return None

    def upstream_name(self, site: Site) -> str:
        """Return the name of the upstream pool serving `site`: new for every release instance."""
        if not _TOKEN.fullmatch(site.instance):
            raise ValueError(f"bukan token instans yang sah: {site.instance!r}")
        return f"{defaults.NAME_PREFIX}-{app_name(site.app)}-{site.instance}"

    @staticmethod
    def listen_of(listen: str, address: str | None) -> str:
        """Return `listen` moved to `address`, keeping its port: "127.0.0.1:8080" → "<address>:8080"."""
        if address is None:
            return listen
        address = str(ipaddress.ip_address(address))  # a name here would reach nginx unchecked
        port = listen.rpartition(":")[2] if ":" in listen else listen
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

    def render(self, site: Site) -> str:
        """Return the vhost file for `site`."""
        app_name(site.app)
        domain(site.fqdn)
        access, error = self.log_paths(site.app)
        tls = site.tls_cert is not None and site.tls_key is not None and self.settings.https_listen
        listen = self.listen_of(self.settings.listen, site.listen_address)
        https_listen = self.listen_of(self.settings.https_listen or "", site.listen_address)
        headers = "".join(f'    add_header {name} "{value}" always;\n'
                          for name, value in defaults.SECURITY_HEADERS)
        gzip_types = " ".join(defaults.GZIP_TYPES)
        extra = self.settings.extra
        common = (
            f"    server_name {site.fqdn};\n"
            # Buffered: one write per 64 KiB or 2 s instead of one per request.
            f"    access_log {access} combined buffer={defaults.ACCESS_LOG_BUFFER} "
            f"flush={defaults.ACCESS_LOG_FLUSH};\n"
            f"    error_log {error};\n"
            f"    client_max_body_size {int(site.upload_max_mb)}m;\n"
            f'    add_header {INSTANCE_HEADER} "{site.instance}" always;\n'
            f"{headers}"
            "    sendfile on;\n"
            "    tcp_nopush on;\n"
            "    gzip on;\n"
            f"    gzip_comp_level {defaults.GZIP_LEVEL};\n"
            f"    gzip_min_length {defaults.GZIP_MIN_LENGTH};\n"
            "    gzip_proxied any;\n"
            "    gzip_vary on;\n"
            f"    gzip_types {gzip_types};\n"
            # The operator's own rules; a glob, so a file or directory that is absent is fine.
            f"    include {extra}/{_ALL_APPS}/*.conf;\n"
            f"    include {extra}/{site.app}.con[f];\n"
        )
        upstream = ""
        if site.port is None:
            body = ('    location / {\n'
                    '        default_type text/plain;\n'
                    '        return 503 "Aplikasi sedang dihentikan.\\n";\n'
                    '    }\n')
        else:
            pool = self.upstream_name(site)
            # A pool of idle connections to the container: no TCP handshake (and no TIME_WAIT
            # left behind) per request. Idle ones are let go before the app's own server would
            # close them, so a request never meets a connection closing under it.
            upstream = (
                f"upstream {pool} {{\n"
                f"    server 127.0.0.1:{int(site.port)};\n"
                f"    keepalive {defaults.UPSTREAM_KEEPALIVE};\n"
                f"    keepalive_timeout {defaults.UPSTREAM_KEEPALIVE_TIMEOUT_S}s;\n"
                f"    keepalive_requests {defaults.UPSTREAM_KEEPALIVE_REQUESTS};\n"
                "}\n\n"
            )
            body = (
                "    location / {\n"
                f"        proxy_pass http://{pool};\n"
                "        proxy_http_version 1.1;\n"
                '        proxy_set_header Connection "";\n'
                "        proxy_set_header Host $host;\n"
                "        proxy_set_header X-Real-IP $remote_addr;\n"
                "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "        proxy_set_header X-Forwarded-Proto $scheme;\n"
                f"        proxy_hide_header {INSTANCE_HEADER};\n"
                "        proxy_hide_header X-Powered-By;\n"
                f"        proxy_buffer_size {defaults.PROXY_BUFFER_SIZE};\n"
                f"        proxy_buffers {defaults.PROXY_BUFFERS};\n"
                f"        proxy_busy_buffers_size {defaults.PROXY_BUSY_BUFFERS_SIZE};\n"
                f"        proxy_connect_timeout {defaults.PROXY_CONNECT_TIMEOUT_S}s;\n"
                f"        proxy_send_timeout {defaults.PROXY_SEND_TIMEOUT_S}s;\n"
                f"        proxy_read_timeout {defaults.PROXY_READ_TIMEOUT_S}s;\n"
                "    }\n"
            )
        mark = f"{defaults.VHOST_MARK} {self.owner} for app {site.app}; edits are overwritten.\n"
        if not tls:
            return (f"{mark}{upstream}server {{\n    listen {listen};\n"
                    f"{common}{body}}}\n")
        redirect = ("    location / {\n"
                    "        return 301 https://$host$request_uri;\n"
                    "    }\n")
        return (
            f"{mark}{upstream}server {{\n    listen {listen};\n{common}{redirect}}}\n\n"
            f"server {{\n    listen {https_listen} ssl;\n"
            f"    ssl_certificate {site.tls_cert};\n"
            f"    ssl_certificate_key {site.tls_key};\n"
            f"    ssl_protocols {defaults.TLS_PROTOCOLS};\n"
            f'    add_header Strict-Transport-Security "{defaults.HSTS}" always;\n'
            f"{common}{body}}}\n"
        )

    # --- the contract ----------------------------------------------------------------------------

    def apply(self, changes: dict[str, str | None]) -> None:
        """Write (or with None, delete) the vhost of each app, test, reload; undo all on failure."""
        if not changes:
            return
        with self._lock():
            paths = {app: self.path(app) for app in changes}
            checkpoint = {app: self._snapshot(path) for app, path in paths.items()}
            for app, saved in checkpoint.items():
                if saved is not None and not self._marked_ours(saved, app):
                    raise VhostError(f"{paths[app]} ada tetapi tidak ditulis oleh agen ini")
            if all((None if text is None else text.encode()) == checkpoint[app]
                   for app, text in changes.items()):
                return  # nothing changes: no test, no reload
            reloaded = False
            try:
                for app, text in changes.items():
                    if text is None:
                        paths[app].unlink(missing_ok=True)
                    else:
                        private_files.write(paths[app], text, mode=0o644)
                self.test()
                reloaded = True
                self.reload()
            except BaseException:
                for app, saved in checkpoint.items():
                    self._restore(paths[app], saved)
                if reloaded:
                    with contextlib.suppress(VhostError):
                        self.test()
                        self.reload()
                raise

    def _marked_ours(self, text: bytes, app: str) -> bool:
        match = _MARK.match(text.split(b"\n", 1)[0].decode(errors="replace"))
        return bool(match and match["owner"] == self.owner and match["app"] == app)

    @staticmethod
    def _snapshot(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def _restore(path: Path, saved: bytes | None) -> None:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            private_files.write(path, saved, mode=0o644)

    def _command(self, *args: str) -> list[str]:
        argv = [self.settings.binary]
        if self.settings.prefix:
            argv += ["-p", self.settings.prefix]
        if self.settings.conf:
            argv += ["-c", self.settings.conf]
        return argv + list(args)

    def _run(self, *args: str, what: str) -> str:
        try:
            result = subprocess.run(self._command(*args), capture_output=True, text=True,
                                    timeout=defaults.NGINX_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VhostError(f"nginx tidak dapat dijalankan untuk {what}: {exc}") from exc
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            raise VhostError(f"nginx menolak {what}", output)
        return output

    def test(self) -> None:
        """Run `nginx -t`; raise VhostError with nginx's words if the configuration is bad."""
        self._run("-t", "-q", what="konfigurasi")

    def reload(self) -> None:
        """Have the running nginx load its configuration; return once new workers took over."""
        before = {pid for pid, retiring in self._workers() if not retiring}
        self._run("-s", "reload", what="pemuatan ulang")
        if not before:
            return  # the master is unknown (no pid file): nothing to watch
        # The signal is handled asynchronously: wait until every worker that took connections
        # before is retiring, so a request sent after this returns meets the new configuration.
        deadline = time.monotonic() + defaults.NGINX_TIMEOUT_S
        while any(pid in before for pid, retiring in self._workers() if not retiring):
            if time.monotonic() > deadline:
                raise VhostError("nginx tidak memuat ulang konfigurasinya tepat waktu")
            time.sleep(0.01)

    def reopen(self) -> None:
        """Have the running nginx reopen its log files (after they were moved aside)."""
        self._run("-s", "reopen", what="pembukaan ulang log")

    def rotate_logs(self, apps: list[str], max_bytes: int = defaults.LOG_ROTATE_BYTES,
                    keep: int = defaults.LOG_ROTATE_KEEP) -> list[Path]:
        """Move aside the apps' logs larger than `max_bytes`, have nginx reopen; return them.

        The newest old log stays plain as `<log>.1` (nginx may write to it until it has
        reopened; the log page reads it too); older ones are `<log>.N.gz`, at most `keep` in all.
        """
        moved = []
        for app in apps:
            for path in self.log_paths(app):
                try:
                    if path.stat().st_size < max_bytes:
                        continue
                    _shift(path, keep)
                except FileNotFoundError:
                    continue  # removed meanwhile, with its app
                moved.append(path)
        if moved:
            with self._lock():
                self.reopen()
            logger.info("rotated %d nginx log(s)", len(moved))
        return moved

    def version(self) -> str:
        """Return nginx's version string, e.g. "nginx/1.22.1"."""
        output = self._run("-v", what="versi")
        return output.rsplit(":", 1)[-1].strip()

    # --- watching the switch ---------------------------------------------------------------------

    def answering_instance(self, fqdn: str, path: str = "/", timeout: float = 2.0,
                           https: bool = False, address: str | None = None) -> str | None:
        """Return the instance token nginx sends for `fqdn` (at `address`, its own IP), or None."""
        host, _, port = self.settings.probe.rpartition(":")
        host = address or host
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request("GET", path, headers={"Host": fqdn, "User-Agent": "wadah-agent"})
            response = conn.getresponse()
            response.read()
            return response.getheader(INSTANCE_HEADER)
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def wait_switched(self, fqdn: str, instance: str, path: str = "/",
                      timeout: float = defaults.SWITCH_TIMEOUT_S, address: str | None = None) -> None:
        """Wait until nginx answers `fqdn` from `instance`; raise VhostError after `timeout`."""
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.answering_instance(fqdn, path, address=address)
            if seen == instance:
                return
            time.sleep(0.05)
        raise VhostError(f"nginx belum melayani {fqdn} dari rilis baru (terlihat: {seen!r})")

    def drain(self, minimum: float = defaults.DRAIN_MIN_S,
              maximum: float = defaults.DRAIN_MAX_S) -> None:
        """Wait until nginx's workers from before the last reload have finished their requests."""
        time.sleep(minimum)
        deadline = time.monotonic() + max(0.0, maximum - minimum)
        while any(retiring for _pid, retiring in self._workers()) \
                and time.monotonic() < deadline:
            time.sleep(0.1)

    def _workers(self) -> list[tuple[int, bool]]:
        """Return nginx's worker processes as (pid, whether it is retiring after a reload)."""
        master = _read_pid(self.settings.pid_file)
        if master is None:
            return []
        found = []
        for pid in _children(master):
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if cmdline.startswith(b"nginx: worker process"):
                    found.append((pid, b"shutting down" in cmdline))
        return found


def rotated(path: Path, n: int) -> Path:
    """Return the name of `path`'s n-th old copy: plain for the first, gzip for the others."""
    return path.with_name(f"{path.name}.{n}" if n == 1 else f"{path.name}.{n}.gz")


def _shift(path: Path, keep: int) -> None:
    """Move `path` to `path`.1, compressing the previous .1 and shifting older copies up."""
    rotated(path, keep).unlink(missing_ok=True)
    for n in range(keep - 1, 1, -1):
        with contextlib.suppress(FileNotFoundError):
            os.rename(rotated(path, n), rotated(path, n + 1))
    first = rotated(path, 1)
    if keep > 1 and first.exists():
        # nginx reopened long ago (at the last rotation): nothing writes to .1 any more.
        second = rotated(path, 2)
        partial = second.with_name(second.name + ".partial")
        with first.open("rb") as source, gzip.open(partial, "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        os.rename(partial, second)
    os.rename(path, first)


def _read_pid(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _children(pid: int) -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                yield int(entry.name)
