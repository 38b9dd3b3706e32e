"""The `wadah` command: one entry point for the panel, its worker, the agent, the scanner and the testbed."""
from __future__ import annotations

import importlib
import logging
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

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
    import panel.tasks  # noqa: F401  (registers the tasks and the periodic checks)
    from panel.jobs import huey

    _app()  # binds the queue backend and gives tasks their app context
    huey.create_consumer(workers=workers, worker_type="thread").run()


@main.group()
def db() -> None:
    """Manage the panel's database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest) and add missing built-in data."""
    from panel import database
    from panel.extensions import db as session_owner
    from panel.services.requests import workflow

    app = _app()
    database.upgrade(app.config["SQLALCHEMY_DATABASE_URI"], revision)
    with app.app_context():
        workflow.ensure_builtin_templates()
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

    with _app().app_context():
        logins = demo.seed()
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


@main.group()
def backup() -> None:
    """Back up or restore the panel: database, instance file, CA and letters."""


_repo_option = click.option(
    "--repo", envvar="WADAH_PANEL_BACKUP_REPO", default=None,
    help="Repositori restic: folder, sftp:… atau s3:… (bawaan: <state>/backups/panel).")
_passphrase_option = click.option("--passphrase-stdin", is_flag=True,
                                  help="Baca frasa sandi dari stdin, bukan dari prompt.")


def _backup_repository(repo: str | None, passphrase: Path) -> Any:
    from agents.backups import Repository
    from panel import config as configuration

    return Repository(repo or str(configuration.state_dir() / "backups" / "panel"), passphrase)


def _passphrase(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Frasa sandi cadangan", hide_input=True, confirmation_prompt=confirm))


@backup.command("create")
@_repo_option
@_passphrase_option
@click.option("--with-artifacts", is_flag=True, help="Sertakan bundel unggahan (besar).")
def backup_create(repo: str | None, passphrase_stdin: bool, with_artifacts: bool) -> None:
    """Back up the panel into a restic repository sealed with a passphrase."""
    from panel import backup as panel_backup
    from panel import config as configuration

    try:
        with panel_backup.passphrase_file(_passphrase(passphrase_stdin, True)) as secret:
            made = panel_backup.create(panel_backup.PanelPaths.of(configuration.state_dir() / "panel"),
                                       _backup_repository(repo, secret), with_artifacts=with_artifacts)
    except (panel_backup.PanelBackupRefused, panel_backup.BackupFailed) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{made.id}  {made.created_at}  {made.size} bita")


@backup.command("list")
@_repo_option
@_passphrase_option
def backup_list(repo: str | None, passphrase_stdin: bool) -> None:
    """List the panel's backups, newest first."""
    from panel import backup as panel_backup

    try:
        with panel_backup.passphrase_file(_passphrase(passphrase_stdin, False)) as secret:
            found = panel_backup.list_backups(_backup_repository(repo, secret))
    except (panel_backup.PanelBackupRefused, panel_backup.BackupFailed) as error:
        raise click.ClickException(str(error)) from error
    for made in found:
        click.echo(f"{made.id}  {made.created_at}  {made.size} bita")


@backup.command("restore")
@click.argument("backup_id")
@_repo_option
@_passphrase_option
@click.option("--force", is_flag=True, help="Timpa basis data panel yang sudah ada.")
def backup_restore(backup_id: str, repo: str | None, passphrase_stdin: bool, force: bool) -> None:
    """Restore a panel backup into this machine's state directory (stop the panel first)."""
    from panel import backup as panel_backup
    from panel import config as configuration

    try:
        with panel_backup.passphrase_file(_passphrase(passphrase_stdin, False)) as secret:
            instance_file = panel_backup.restore(configuration.state_dir() / "panel",
                                                 _backup_repository(repo, secret), backup_id,
                                                 force=force)
    except (panel_backup.PanelBackupRefused, panel_backup.BackupFailed) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Dipulihkan: {instance_file}; jalankan `wadah db upgrade`, lalu panel.")


@main.command("init-config")
def init_config() -> None:
    """Write the instance configuration with fresh secrets, and make the panel's CA, unless they exist."""
    from panel import config as configuration
    from panel import gateway

    path = configuration.write_instance_file(configuration.state_dir() / "panel", {})
    click.echo(path)
    gateway.agents(_app()).create_ca()


if __name__ == "__main__":  # `python -m panel.cli`, as `wadah up` starts its processes
    main()
