"""The `wadah` command: one entry point for the panel, its worker, the agent, the scanner and the testbed."""
from __future__ import annotations

import collections.abc
import contextlib
import getpass
import importlib
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from panel.cli_backup import backup

# Commands imported only when run: `wadah scan` must not pay for Flask, Docker and database drivers.
_LAZY_COMMANDS = {"testbed": "panel.testbed.cli:testbed"}


class _Commands(click.Group):
    """The `wadah` group: the testbed's and the plugins' commands are imported when used."""

    def _lazy(self) -> dict[str, str]:
        # `scan` and `agent` live in packages the panel must not import; they register through
        # entry points.
        found = {ep.name: ep.value for ep in entry_points(group="wadah.commands")}
        return {**_LAZY_COMMANDS, **found}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in (lazy := self._lazy()):
            module, _, attribute = lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command


@click.group(cls=_Commands)
@click.option("-v", "--verbose", is_flag=True, help="Tampilkan log rinci.")
@click.option("--state-dir", type=click.Path(file_okay=False), envvar="WADAH_STATE_DIR",
              help="Direktori keadaan lokal (bawaan: ~/.local/state/wadah).")
def main(verbose: bool, state_dir: str | None) -> None:
    """Wadah — panel layanan hosting Data Center Pemda."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:  # migrations and the job consumer are chatty at INFO
        for name in ("alembic", "huey"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if state_dir:  # one place for every part of the process, child processes included
        os.environ["WADAH_STATE_DIR"] = os.path.abspath(state_dir)


@main.command()
def up() -> None:
    """Start everything: local services, runtime images, database, demo Pemda, web and worker."""
    from panel import config as configuration
    from panel import embedded
    from panel.testbed.errors import TestbedError

    try:
        embedded.up(configuration.state_dir(), click.echo)
    except TestbedError as error:
        raise click.ClickException(str(error)) from error


@main.command()
@click.option("--all", "everything", is_flag=True, help="Hentikan juga layanan lokal (testbed).")
def down(everything: bool) -> None:
    """Stop the panel's processes (and with --all the local services)."""
    from panel import config as configuration
    from panel import embedded

    embedded.down(configuration.state_dir(), everything, click.echo)


def _app():  # type: ignore[no-untyped-def]
    from panel import create_app

    return create_app()


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--dev", is_flag=True, help="Flask's development server with reload, not gunicorn.")
def web(bind: str, workers: int, dev: bool) -> None:
    """Serve the panel's web UI and API."""
    if dev:
        host, _, port = bind.rpartition(":")
        _app().run(host=host, port=int(port), debug=True)
        return
    from panel.wsgi import serve

    serve(bind, workers)


@main.command()
@click.option("--workers", default=2, show_default=True)
def worker(workers: int) -> None:
    """Run background jobs (scans, deploys, DNS updates, probes, timers)."""
    import panel.tasks  # noqa: F401  (registers the tasks, their recoveries and the periodic checks)
    from panel.jobs import Heartbeat, huey

    heartbeat = Heartbeat(_app())  # the app binds the queue backend and gives tasks their context
    heartbeat.start()  # reaps what a stopped worker left, then beats and reaps every few seconds
    try:
        huey.create_consumer(workers=workers, worker_type="thread").run()
    finally:
        heartbeat.stop()


@main.command()
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True,
              help="Bahasa pesan.")
def doctor(lang: str) -> None:
    """Check the database, the job queue and the workers, list each host's last contact, say what to do."""
    from panel import health
    from panel.i18n import gettext as _
    from panel.i18n import speaking

    with _app().app_context(), speaking(lang):
        found = health.check()
        for check in found.checks:
            click.echo(f"[{'OK' if check.ok else '!!'}] {check.name:<9} {check.detail}")
            if check.remedy:
                click.echo(f"     {'':<9} -> {check.remedy}")
        click.echo(_("Host (kontak terakhir agennya):") if found.hosts else _("Belum ada host terdaftar."))
        for host in found.hosts:
            seen = host.last_seen_at.isoformat(timespec="seconds") if host.last_seen_at else "-"
            click.echo(f"[{'OK' if host.fresh else '!!'}] {host.name:<20} {host.status:<12} {seen}")
        if not found.ok:
            raise click.ClickException(_("Bermasalah: %(down)s", down=", ".join(found.down)))


@main.group()
def db() -> None:
    """Manage the panel's database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest) and add missing built-in data."""
    from panel import database
    from panel.extensions import db as session_owner
    from panel.services.requests import workflow, working_time

    app = _app()
    database.upgrade(app.config["SQLALCHEMY_DATABASE_URI"], revision)
    with app.app_context():
        workflow.ensure_builtin_templates()
        working_time.ensure_seeded()
        session_owner.session.commit()


@db.command("revision")
@click.argument("message")
def db_revision(message: str) -> None:
    """Generate a migration from the models' changes (for developers)."""
    from panel import database

    database.new_revision(_app().config["SQLALCHEMY_DATABASE_URI"], message)


@main.command("seed-demo")
def seed_demo() -> None:
    """Create the demo Pemda (Kabupaten Contoh), its OPDs and one user per role."""
    from panel.extensions import db as database
    from panel.services.accounts import demo

    app = _app()
    with app.app_context():
        try:
            logins = demo.seed(production=bool(app.config["PRODUCTION"]))
        except demo.DemoRefused as refused:
            raise click.ClickException(str(refused)) from refused
        database.session.commit()
    for login in logins:
        shown = login.password or "(sudah ada; kata sandi tidak ditampilkan lagi)"
        click.echo(f"  {login.role:<12} {login.username:<12} {shown}")


@main.group()
def host() -> None:
    """Manage container hosts and their agents."""


@host.command("add")
@click.argument("name")
@click.option("--address", required=True, help="The address the panel reaches the agent at.")
@click.option("--port", default=17443, show_default=True)
@click.option("--panel-url", default=None, help="The panel's https:// address (default: PANEL_URL).")
def host_add(name: str, address: str, port: int, panel_url: str | None) -> None:
    """Register a host and print the one-time command that enrols its agent."""
    from panel import gateway
    from panel.extensions import db as session_owner
    from panel.services.infra import hosts
    from panel.services.refused import Refused

    app = _app()
    with app.app_context():
        agents = gateway.agents(app)
        try:
            _, token = hosts.add_host(agents, name, address, port, None)
        except Refused as refused:  # a bad name or address, or no CA made yet
            raise click.ClickException(str(refused)) from refused
        session_owner.session.commit()
        command = hosts.enrolment_command(agents, token, panel_url or app.config["PANEL_URL"])
    click.echo(f"Host {name} terdaftar; jalankan di host tersebut (token sekali pakai, 24 jam):")
    click.echo(f"  {command}")


@host.command("reenroll")
@click.argument("name")
@click.option("--panel-url", default=None, help="The panel's https:// address (default: PANEL_URL).")
def host_reenroll(name: str, panel_url: str | None) -> None:
    """Give a host whose agent lost its key a new one-time token; its old certificate stops counting."""
    from sqlalchemy import select

    from panel import gateway
    from panel.extensions import db as session_owner
    from panel.models import Host
    from panel.services.infra import hosts
    from panel.services.refused import Refused

    app = _app()
    with app.app_context():
        agents = gateway.agents(app)
        found = session_owner.session.scalar(select(Host).where(Host.name == name))
        if found is None:
            raise click.ClickException(f"Host {name!r} tidak terdaftar.")
        try:
            token = hosts.reenroll(agents, found, None)
        except Refused as refused:
            raise click.ClickException(str(refused)) from refused
        session_owner.session.commit()
        command = hosts.enrolment_command(agents, token, panel_url or app.config["PANEL_URL"])
    click.echo(f"Host {name} menunggu pendaftaran ulang; jalankan di host tersebut"
               " (token sekali pakai, 24 jam):")
    click.echo(f"  {command} --force")


main.add_command(backup)  # `wadah backup …` (panel/cli_backup.py)




@main.command("init-config")
@click.option("--production", is_flag=True,
              help="Tandai instans sebagai produksi: data contoh ditolak (PRODUCTION = true).")
def init_config(production: bool) -> None:
    """Write the instance configuration with fresh secrets, and make the panel's CA, unless they exist."""
    from panel import config as configuration
    from panel import gateway

    instance: Path = configuration.state_dir() / "panel"
    existed = configuration.instance_file(instance).is_file()
    path = configuration.write_instance_file(instance, {"PRODUCTION": True} if production else {})
    click.echo(path)
    gateway.agents(_app()).create_ca()
    if production and existed:  # its secrets stand; the flag is the operator's edit to make
        click.echo("Berkas sudah ada dan tidak diubah; tambahkan baris `PRODUCTION = true` ke berkas itu.",
                   err=True)


# --- accounts ----------------------------------------------------------------------------------


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        return str(os.getuid())


@contextlib.contextmanager
def _directory() -> collections.abc.Iterator[Any]:
    """Open the panel's database as the command line (audited as `cli:<OS user>`) and commit on success."""
    from panel import audit
    from panel.extensions import db as session_owner
    from panel.services.accounts import directory

    app = _app()
    with app.app_context(), audit.acting_as(f"cli:{_os_user()}"):
        try:
            yield app
        except directory.DirectoryRefused as refused:
            session_owner.session.rollback()
            raise click.ClickException(str(refused)) from refused
        session_owner.session.commit()


def _password_from_stdin(wanted: bool) -> str | None:
    if not wanted:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("Tidak ada kata sandi di masukan standar.")
    return password


def _show_one_time(username: str, password: str | None) -> None:
    if password is not None:
        click.echo(f"Kata sandi sekali pakai untuk {username} (ditampilkan sekali ini saja; wajib diganti "
                   "saat masuk):")
        click.echo(f"  {password}")


@main.group()
def user() -> None:
    """Manage the panel's users; the first platform administrator of an install is made here."""


@user.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True,
              help="Peran (boleh diulang): opd_admin, technician, coordinator, head, auditor, superadmin.")
@click.option("--opd", "opd_code", default=None, help="Kode OPD pengguna.")
@click.option("--email", default=None, help="Alamat surel untuk pemberitahuan.")
@click.option("--name", "full_name", default="", help="Nama lengkap.")
@click.option("--nip", default=None, help="NIP (18 angka).")
@click.option("--password-stdin", is_flag=True, help="Baca kata sandi dari masukan standar.")
def user_add(username: str, roles: tuple[str, ...], opd_code: str | None, email: str | None,
             full_name: str, nip: str | None, password_stdin: bool) -> None:
    """Create a user; print a one-time password unless one comes on standard input."""
    from panel.services.accounts import directory

    password = _password_from_stdin(password_stdin)
    with _directory() as app:
        profile = directory.Profile(roles=roles, opd_code=opd_code, full_name=full_name, email=email, nip=nip)
        created, generated = directory.add_user(username, profile, by=None, password=password,
                                                min_length=app.config["PASSWORD_MIN_LENGTH"])
        roles_text = ", ".join(sorted(created.role_keys))
    click.echo(f"Pengguna {username} dibuat ({roles_text}).")
    _show_one_time(username, generated)


@user.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Baca kata sandi baru dari masukan standar.")
def user_passwd(username: str, password_stdin: bool) -> None:
    """Reset a user's password (sessions end, API tokens are revoked); print a one-time password."""
    from panel.services.accounts import directory

    password = _password_from_stdin(password_stdin)
    with _directory() as app:
        generated = directory.reset_password(directory.user_by_name(username), by=None, password=password,
                                             min_length=app.config["PASSWORD_MIN_LENGTH"])
    click.echo(f"Kata sandi {username} diganti; semua sesi dan token API-nya berakhir.")
    _show_one_time(username, generated)


def _act_on(username: str, verb: str) -> None:
    # `verb` names a directory function taking (user, by=...): the command line acts as nobody's user.
    from panel.services.accounts import directory

    with _directory():
        getattr(directory, verb)(directory.user_by_name(username), by=None)


@user.command("unlock")
@click.argument("username")
def user_unlock(username: str) -> None:
    """Clear the failed sign-ins counted against a user, from every address."""
    _act_on(username, "unlock")
    click.echo(f"Pembatasan masuk untuk {username} dihapus.")


@user.command("reset-totp")
@click.argument("username")
def user_reset_totp(username: str) -> None:
    """Switch off a user's second factor (a lost phone); a role that needs one enrols again at sign-in."""
    _act_on(username, "reset_second_factor")
    click.echo(f"Verifikasi dua langkah {username} dimatikan; sesinya berakhir.")


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Disable a user: no sign-in, sessions ended, API tokens revoked."""
    _act_on(username, "disable_user")
    click.echo(f"Pengguna {username} dinonaktifkan.")


@user.command("enable")
@click.argument("username")
def user_enable(username: str) -> None:
    """Let a disabled user sign in again."""
    _act_on(username, "enable_user")
    click.echo(f"Pengguna {username} diaktifkan kembali.")


@main.group()
def opd() -> None:
    """Manage the agencies (OPD) whose applications the data center hosts."""


@opd.command("add")
@click.argument("code")
@click.option("--name", required=True, help="Nama lengkap OPD.")
def opd_add(code: str, name: str) -> None:
    """Register an agency."""
    from panel.services.accounts import directory

    with _directory():
        created = directory.add_opd(code, name, by=None)
        shown = f"{created.code} ({created.name})"
    click.echo(f"OPD {shown} terdaftar.")


@opd.command("disable")
@click.argument("code")
def opd_disable(code: str) -> None:
    """Stop an agency filing requests and receiving users; its apps keep running."""
    from panel.services.accounts import directory

    with _directory():
        directory.disable_opd(directory.opd_by_code(code), by=None)
    click.echo(f"OPD {code.upper()} dinonaktifkan.")


@opd.command("enable")
@click.argument("code")
def opd_enable(code: str) -> None:
    """Let a disabled agency file requests and receive users again."""
    from panel.services.accounts import directory

    with _directory():
        directory.enable_opd(directory.opd_by_code(code), by=None)
    click.echo(f"OPD {code.upper()} aktif kembali.")


if __name__ == "__main__":  # `python -m panel.cli`, as `wadah up` starts its processes
    main()
