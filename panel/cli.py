"""The `wadah` command: one entry point for the panel, its worker, the agent, the scanner and the testbed."""
from __future__ import annotations

import logging
import os
import shutil
import sys
from importlib.metadata import entry_points

import click

from panel import config as configuration


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Tampilkan log rinci.")
def main(verbose: bool) -> None:
    """Wadah — panel layanan hosting Data Center Pemda."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    os.execv(gunicorn, [gunicorn, "--bind", bind, "--workers", str(workers),
                        "--access-logfile", "-", "panel:create_app()"])


@main.command()
@click.option("--workers", default=2, show_default=True)
def worker(workers: int) -> None:
    """Run background jobs (scans, deploys, DNS updates, probes, timers)."""
    from panel.jobs import huey

    _app()  # binds the queue backend and gives tasks their app context
    huey.create_consumer(workers=workers, worker_type="thread").run()


@main.group()
def db() -> None:
    """Manage the panel's database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from panel import database

    database.upgrade(_app().config["SQLALCHEMY_DATABASE_URI"], revision)


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
    from panel.services import demo

    with _app().app_context():
        logins = demo.seed()
        database.session.commit()
    for login in logins:
        shown = login.password or "(sudah ada; kata sandi tidak ditampilkan lagi)"
        click.echo(f"  {login.role:<12} {login.username:<12} {shown}")


@main.command("init-config")
def init_config() -> None:
    """Write the instance configuration with fresh secrets, unless it exists."""
    path = configuration.write_instance_file(configuration.state_dir() / "panel", {})
    click.echo(path)


def _load_plugin_commands() -> None:
    # `scan` and `agent` live in packages the panel must not import; they register through entry points.
    for ep in entry_points(group="wadah.commands"):
        try:
            main.add_command(ep.load(), ep.name)
        except ImportError as missing:  # a package still being built must not break the rest
            logging.getLogger(__name__).debug("command %s unavailable: %s", ep.name, missing)


_load_plugin_commands()
