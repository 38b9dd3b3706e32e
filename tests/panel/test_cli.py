from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from panel import config as configuration
from panel import create_app, database
from panel.cli import main
from panel.extensions import db
from panel.models import Host, HostStatus


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WADAH_STATE_DIR", str(tmp_path))
    configuration.write_instance_file(tmp_path / "panel", {})
    database.upgrade(f"sqlite:///{tmp_path / 'panel' / 'wadah.db'}")
    made = CliRunner().invoke(main, ["init-config"])  # as an install does: it also makes the CA
    assert made.exit_code == 0, made.output
    return tmp_path


def test_host_add_prints_a_one_time_enrolment_command(state: Path) -> None:
    result = CliRunner().invoke(main, ["host", "add", "dc-node-02", "--address", "127.0.0.1",
                                       "--panel-url", "https://panel.contoh.go.id"])
    assert result.exit_code == 0, result.output
    assert "WADAH_AGENT_TOKEN=wdh1." in result.output and "--ca-sha256" in result.output
    with create_app({"INSTANCE_PATH": str(state / "panel")}).app_context():
        host = db.session.query(Host).one()
        assert (host.name, host.status, host.agent_url) == (
            "dc-node-02", HostStatus.PENDING, "https://127.0.0.1:17443")


def test_only_init_config_makes_the_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADAH_STATE_DIR", str(tmp_path))
    configuration.write_instance_file(tmp_path / "panel", {})
    database.upgrade(f"sqlite:///{tmp_path / 'panel' / 'wadah.db'}")
    refused = CliRunner().invoke(main, ["host", "add", "node", "--address", "127.0.0.1"])
    assert refused.exit_code != 0 and "belum memiliki CA" in refused.output
    assert not (tmp_path / "panel" / "ca").exists()
    with create_app({"INSTANCE_PATH": str(tmp_path / "panel")}).app_context():
        assert db.session.query(Host).count() == 0
    assert CliRunner().invoke(main, ["init-config"]).exit_code == 0
    assert (tmp_path / "panel" / "ca" / "ca.key").is_file()
    added = CliRunner().invoke(main, ["host", "add", "node", "--address", "127.0.0.1"])
    assert added.exit_code == 0 and "--ca-sha256" in added.output


@pytest.mark.parametrize("name", ["Node_2", "bad.name", ""])
def test_host_add_refuses_bad_names(state: Path, name: str) -> None:
    result = CliRunner().invoke(main, ["host", "add", name, "--address", "127.0.0.1"])
    assert result.exit_code != 0 and "tidak sah" in result.output


def test_host_add_refuses_a_second_host_of_the_same_name(state: Path) -> None:
    CliRunner().invoke(main, ["host", "add", "node", "--address", "127.0.0.1"])
    again = CliRunner().invoke(main, ["host", "add", "node", "--address", "127.0.0.2"])
    assert again.exit_code != 0 and "sudah terdaftar" in again.output
