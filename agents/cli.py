"""`wadah agent …`: run the agent, enrol it with the panel, build its runtime images.

Every option can also come from the environment as `WADAH_AGENT_<OPTION>` (e.g.
`WADAH_AGENT_STATE_DIR`, `WADAH_AGENT_MARIADB_PASSWORD`), which is how the systemd unit's
EnvironmentFile sets them.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from agents import defaults

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = "/var/lib/wadah-agent"


def _env(option: str) -> str:
    return "WADAH_AGENT_" + option.upper().replace("-", "_")


def _option(name: str, *parameter: str, **kwargs: Any) -> Any:
    return click.option(f"--{name}", *parameter, envvar=_env(name), show_envvar=True, **kwargs)


_state_dir = _option("state-dir", default=DEFAULT_STATE_DIR, show_default=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Where the agent keeps its credentials, artifacts, nonces and apps.")
_docker_url = _option("docker-url", default="unix:///var/run/docker.sock", show_default=True,
                      help="Docker Engine's API socket.")


@click.group()
def agent() -> None:
    """Agen host kontainer: API bertanda tangan (mTLS) untuk panel; Docker, nginx, MariaDB."""


@agent.command()
@_state_dir
@_option("listen", default=defaults.LISTEN, show_default=True,
         help="host:port of the HTTPS API (the panel's address for this agent).")
@_docker_url
@_option("nginx-sites-dir", default="/etc/nginx/conf.d", show_default=True,
         type=click.Path(file_okay=False, path_type=Path),
         help="Directory nginx includes as *.conf, where app vhosts are written.")
@_option("nginx-log-dir", default="/var/log/nginx/wadah", show_default=True,
         type=click.Path(file_okay=False, path_type=Path))
@_option("nginx-extra-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
         help="The operator's own rules every vhost includes: all/*.conf and <app>.conf "
              "(default: wadah-extra beside the sites directory).")
@_option("nginx-binary", default="nginx", show_default=True)
@_option("nginx-prefix", default=None, help="nginx -p (a private nginx, as in the testbed).")
@_option("nginx-conf", default=None, help="nginx -c.")
@_option("nginx-pid-file", default="/run/nginx.pid", show_default=True,
         type=click.Path(dir_okay=False, path_type=Path))
@_option("nginx-listen", default="80", show_default=True, help="The `listen` of every vhost.")
@_option("nginx-probe", default="127.0.0.1:80", show_default=True,
         help="host:port where the agent reaches that listen itself.")
@_option("nginx-https-listen", default=None,
         help='e.g. "443": serve TLS where a certificate exists.')
@_option("wildcard-cert", default=None, type=click.Path(dir_okay=False, path_type=Path))
@_option("wildcard-key", default=None, type=click.Path(dir_okay=False, path_type=Path))
@_option("wildcard-domain", default=None, help='e.g. "contoh.go.id" for *.contoh.go.id.')
@_option("mariadb-user", default=None,
         help="MariaDB administrator; none: this host has no MariaDB.")
@_option("mariadb-password", default="", show_default=False,
         help="Better from the environment than on the command line.")
@_option("mariadb-socket", default="/run/mysqld/mysqld.sock", show_default=True,
         type=click.Path(dir_okay=False, path_type=Path),
         help="The administrator connects here when it exists, else over TCP.")
@_option("mariadb-app-socket", default=None, type=click.Path(dir_okay=False, path_type=Path),
         help="The server's socket mounted into app containers (default: --mariadb-socket).")
@_option("mariadb-host", default="127.0.0.1", show_default=True)
@_option("mariadb-port", default=3306, show_default=True, type=int)
@click.option("--app-firewall/--no-app-firewall", envvar=_env("app-firewall"), show_envvar=True,
              default=True, show_default=True,
              help="Keep the iptables chains that stop app containers reaching this host and the"
                   " protected ranges (off only where the data center's own firewall does it).")
@_option("app-egress", type=click.Choice(["allow", "deny"]), default=defaults.APP_EGRESS,
         show_default=True, help="Whether apps may open connections to the internet.")
@_option("app-protected", multiple=True, metavar="CIDR",
         help="An address or range apps may not reach, besides the private and link-local ranges"
              " and the panel's address (repeatable; space-separated in the environment).")
@_option("app-allowed", multiple=True, metavar="CIDR",
         help="An address or range apps may reach even when protected or with egress denied.")
@_option("app-host-ports", multiple=True, type=click.IntRange(1, 65535), metavar="PORT",
         help="A TCP port of this host apps may reach (none by default; e.g. 443 when apps call"
              " each other through nginx).")
@_option("iptables", default=defaults.IPTABLES, show_default=True,
         help="iptables binary (iptables-legacy/iptables-nft: the one dockerd uses).")
@_option("volume-mounter", default="mount", show_default=True,
         type=click.Choice(["mount", "systemd"]),
         help="Who mounts the apps' data volumes: the agent itself (mount), or systemd's PID 1 "
              "(systemd-mount) when the agent runs in the sandbox of its systemd unit.")
@click.option("--watch/--no-watch", envvar=_env("watch"), show_envvar=True, default=True,
              show_default=True, help="Scan what appears in the apps' data; quarantine what is bad.")
@_option("clamd-url", default=None,
         help="The ClamAV daemon the watcher asks (unix://… or tcp://…; default: clamd's socket).")
@_option("backup-copy-to", default=None,
         help="A second restic repository (another disk, sftp:… or s3:…) each backup is copied to.")
@_option("backup-copy-password-file", default=None, type=click.Path(dir_okay=False, path_type=Path),
         help="The second repository's password file (created with the repository if new).")
def run(state_dir: Path, listen: str, docker_url: str, mariadb_user: str | None,
        mariadb_password: str, mariadb_socket: Path | None, mariadb_app_socket: Path | None,
        mariadb_host: str, mariadb_port: int, app_firewall: bool, app_egress: str,
        app_protected: tuple[str, ...], app_allowed: tuple[str, ...],
        app_host_ports: tuple[int, ...], iptables: str, volume_mounter: str, watch: bool,
        clamd_url: str | None, backup_copy_to: str | None,
        backup_copy_password_file: Path | None, **nginx: Any) -> None:
    """Serve the agent's API and keep this host reconciled until SIGTERM."""
    from dataclasses import replace

    import docker

    from agents.credentials import AgentCredentials, NotEnrolled
    from agents.databases import MariaDBSettings
    from agents.firewall import AppFirewall, FirewallSettings, ipv4_networks, panel_addresses
    from agents.host import HostAgent
    from agents.protocol.artifacts import ArtifactStore
    from agents.vhosts import NginxSettings

    try:
        firewall_settings = FirewallSettings(
            protected=ipv4_networks(app_protected), allowed=ipv4_networks(app_allowed),
            egress=app_egress, host_ports=tuple(app_host_ports), iptables=iptables)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    credentials = AgentCredentials(state_dir)
    try:
        identity = credentials.identity()
        tls = credentials.server_context()
    except NotEnrolled as exc:
        raise click.ClickException(str(exc)) from exc
    firewall = None
    if app_firewall:
        firewall = AppFirewall(replace(firewall_settings, protected=firewall_settings.protected
                                       + panel_addresses(identity["panel_url"])))
    else:
        logger.warning("app network firewall switched off: apps reach whatever the host routes")
    nginx_settings = NginxSettings(
        sites_dir=nginx["nginx_sites_dir"], log_dir=nginx["nginx_log_dir"],
        extra_dir=nginx["nginx_extra_dir"],
        binary=nginx["nginx_binary"], prefix=nginx["nginx_prefix"], conf=nginx["nginx_conf"],
        pid_file=nginx["nginx_pid_file"], listen=nginx["nginx_listen"],
        probe=nginx["nginx_probe"], https_listen=nginx["nginx_https_listen"],
        wildcard_cert=nginx["wildcard_cert"], wildcard_key=nginx["wildcard_key"],
        wildcard_domain=nginx["wildcard_domain"])
    mariadb = None
    if mariadb_user:
        socket_path = mariadb_socket if mariadb_socket and mariadb_socket.exists() else None
        mariadb = MariaDBSettings(user=mariadb_user, password=mariadb_password,
                                  socket=socket_path, app_socket=mariadb_app_socket,
                                  host=mariadb_host, port=mariadb_port)
    store = ArtifactStore(state_dir / defaults.ARTIFACTS_SUBDIR)
    copies: tuple[Any, ...] = ()
    if backup_copy_to:
        from agents.backups import Repository

        key = backup_copy_password_file or state_dir / defaults.BACKUPS_SUBDIR / "copy.key"
        copies = (Repository(backup_copy_to, key),)
    host = HostAgent(docker.DockerClient(base_url=docker_url), nginx_settings, state_dir, store,
                     mariadb, firewall, volume_mounter=volume_mounter, backup_copies=copies)
    daemon = build_daemon(state_dir, listen, tls, host, store, identity["agent_name"],
                          credentials.release_public_key(),
                          watcher=_watcher(host, state_dir, clamd_url) if watch else None,
                          renewer=_renewer(credentials))
    logger.info("agent %s starting (certificate %s, valid until %s)", identity["agent_name"],
                identity["certificate_sha256"], identity["not_after"])
    daemon.run()
    if daemon.failed:
        raise SystemExit(1)


def _renewer(credentials: Any) -> Any:
    """Return what renews the agent's certificate when it is due: the new TLS context, or None."""
    import datetime as dt

    from agents.credentials import renew

    def renew_if_due() -> Any:
        if not credentials.renewal_due(dt.datetime.now(dt.UTC)):
            return None
        certificate = renew(credentials)
        logger.info("certificate renewed: valid until %s",
                    certificate.not_valid_after_utc.isoformat())
        return credentials.server_context()

    return renew_if_due


def _watcher(host: Any, state_dir: Path, clamd_url: str | None) -> Any:
    """Build the watcher of the apps' data, scanning with the upload scanner's engines and policy."""
    from agents.watch import Watcher
    from scanners import Policy, Scanner, build_engines

    policy = Policy.load()
    # One worker: the watcher scans a few new files at a time, beside the apps it protects.
    scanner = Scanner(build_engines(policy, clamd_url), policy, workers=1)
    return Watcher(scanner=scanner, quarantine=host.recovery.quarantine,
                   stage_root=state_dir / "watch-stage", apps=host.recovery.watched)


def build_daemon(state_dir: Path, listen: str, tls: Any, host: Any, store: Any, agent_name: str,
                 release_key: Any, **options: Any) -> Any:
    """Assemble the API, its server and the daemon around `host`."""
    from agents.api import AgentAPI, NonceLedger
    from agents.daemon import AgentDaemon, build_api_server

    nonces = NonceLedger(state_dir / defaults.NONCE_DB)
    api = AgentAPI(host, store, nonces, agent_name, release_key)
    try:
        server = build_api_server(api, listen, tls)
    except OSError as exc:
        nonces.close()
        raise click.ClickException(f"tidak dapat mendengarkan di {listen}: {exc}") from exc
    return AgentDaemon(server, host, nonces, state_dir, **options)


@agent.command()
@_option("panel", "panel_url", required=True, help="The panel's https:// address.")
@_option("token", required=True, help="The one-time enrolment token the panel showed.")
@_option("ca-sha256", required=True, help="The panel CA's sha256 fingerprint the panel showed.")
@_option("panel-ca", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
         help="CA bundle for the panel's HTTPS certificate (default: the system's CAs).")
@_state_dir
@click.option("--force", is_flag=True, help="Enrol again, replacing this agent's credentials.")
def enroll(panel_url: str, token: str, ca_sha256: str, panel_ca: Path | None, state_dir: Path,
           force: bool) -> None:
    """Enrol this agent with the panel using a one-time token."""
    from agents.credentials import EnrolmentRefused
    from agents.credentials import enroll as enroll_with_panel

    try:
        credentials = enroll_with_panel(state_dir, panel_url, token, ca_sha256,
                                        verify=str(panel_ca) if panel_ca else True, force=force)
    except EnrolmentRefused as exc:
        raise click.ClickException(f"pendaftaran ditolak ({exc.code}): {exc.message}") from exc
    identity = credentials.identity()
    click.echo(f"Terdaftar sebagai {identity['agent_name']}; sertifikat berlaku sampai"
               f" {identity['not_after']}. Kredensial di {credentials.directory}.")


@agent.command()
@_state_dir
def identity(state_dir: Path) -> None:
    """Show this agent's enrolment: name, certificate, CA and panel."""
    from agents.credentials import AgentCredentials, NotEnrolled

    try:
        data = AgentCredentials(state_dir).identity()
    except NotEnrolled as exc:
        raise click.ClickException(str(exc)) from exc
    for key, value in data.items():
        click.echo(f"{key:<20} {value}")


@agent.command()
@_docker_url
@_state_dir
@click.option("--rebuild", is_flag=True, help="Build anew even up-to-date images (Debian updates).")
@click.argument("names", nargs=-1)
def images(docker_url: str, state_dir: Path, rebuild: bool, names: tuple[str, ...]) -> None:
    """Build the runtime images (all, or NAMES) on this host's Docker."""
    import docker

    from agents.images import ensure_runtime_images

    client = docker.DockerClient(base_url=docker_url)
    built = ensure_runtime_images(client, names or None, progress=click.echo, rebuild=rebuild,
                                  cache_dir=state_dir / "images")
    for name, info in built.items():
        click.echo(f"{name:<8} {info.tag:<16} {info.id[:19]} {'dibangun' if info.built else 'ada'}")
