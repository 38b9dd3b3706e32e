"""The panel's own backup, drilled: back up a panel with a request, an app's secret and an enrolled
agent; wipe its state; restore it with `wadah backup restore`; sign in, find the request, read the
secret, and call the agent, which still trusts the panel."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from panel import config as configuration
from panel import create_app, gateway
from panel.cli import main
from panel.extensions import db
from panel.models import AppEnvVar, Host, HostingRequest
from tests.panel import factories
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token

pytestmark = pytest.mark.slow

PASSPHRASE = "frasa sandi cadangan panel yang panjang\n"


def panel_in(state: Path) -> Flask:
    """Build the panel of the state directory `state`, its secrets read from its instance file."""
    return create_app({"INSTANCE_PATH": str(state / "panel"), "TESTING": True,
                       "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                       "WTF_CSRF_ENABLED": True})


@pytest.fixture
def state(tmp_path: Path, migrated_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    state = tmp_path / "state"
    instance = state / "panel"
    configuration.write_instance_file(instance, {"JOBS_IMMEDIATE": True})
    shutil.copy(migrated_db, instance / "wadah.db")
    monkeypatch.setenv("WADAH_STATE_DIR", str(state))
    yield state


def cli(*argv: str) -> Any:
    result = CliRunner().invoke(main, list(argv), input=PASSPHRASE, catch_exceptions=False)
    return result


def test_a_wiped_panel_comes_back_from_its_backup_and_its_agent_still_trusts_it(
        state: Path, tmp_path: Path, testbed: dict[str, Any]) -> None:
    repo = tmp_path / "elsewhere" / "panel-backups"
    app = panel_in(state)
    with app.app_context():
        user = factories.user(roles=["opd_admin"], username="admin.dinkes")
        request = factories.hosting_request(owner=user.opd)
        app_record = factories.app(owner=user.opd)
        db.session.add(AppEnvVar(app_id=app_record.id, name="APP_KEY", value="kunci-rahasia-aplikasi"))
        db.session.commit()
        number, app_id = request.number, app_record.id
        agents = gateway.agents(app)
        agents.create_ca()  # as `wadah up` does on a new panel
        with running_agent(agents, "host-cadangan", testbed, tmp_path) as host:
            host_id = host.id
            db.session.commit()
            made = cli("backup", "create", "--repo", str(repo), "--passphrase-stdin")
            assert made.exit_code == 0, made.output
            backup_id = made.output.split()[0]

            shutil.rmtree(state / "panel")  # the machine is lost
            listed = cli("backup", "list", "--repo", str(repo), "--passphrase-stdin")
            assert listed.output.split()[0] == backup_id
            wrong = CliRunner().invoke(main, ["backup", "restore", backup_id, "--repo", str(repo),
                                              "--passphrase-stdin"], input="bukan frasa yang benar\n")
            assert wrong.exit_code != 0 and not (state / "panel" / "wadah.db").exists()
            restored = cli("backup", "restore", backup_id, "--repo", str(repo), "--passphrase-stdin")
            assert restored.exit_code == 0, restored.output

            again = panel_in(state)
            with again.app_context():
                assert db.session.get(HostingRequest, request.id).number == number
                secret = db.session.scalars(select(AppEnvVar).filter_by(app_id=app_id)).one()
                assert secret.value == "kunci-rahasia-aplikasi"  # SECRETS_KEY came back with it
                agent_host = db.session.get(Host, host_id)
                # The restored CA, never a new one (a read makes none): the agent trusts its client.
                with gateway.agents(again).client(agent_host) as client:
                    assert client.ping()
            browser = again.test_client()
            signed_in = browser.post("/login", data={
                "username": "admin.dinkes", "password": factories.PASSWORD,
                "csrf_token": csrf_token(browser, "/login")})
            assert signed_in.status_code == 302
            assert number in browser.get("/requests").get_data(as_text=True)

            over = cli("backup", "restore", backup_id, "--repo", str(repo), "--passphrase-stdin")
            assert over.exit_code != 0 and "--force" in over.output  # a live panel is not overwritten


def test_a_short_passphrase_is_refused_before_anything_is_written(state: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["backup", "create", "--repo", str(tmp_path / "r"),
                                       "--passphrase-stdin"], input="pendek\n")
    assert result.exit_code != 0 and "minimal 12" in result.output
    assert not (tmp_path / "r").exists()
