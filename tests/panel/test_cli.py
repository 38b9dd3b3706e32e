from __future__ import annotations

import getpass
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from panel import config as configuration
from panel import create_app, database
from panel.cli import main
from panel.extensions import db
from panel.models import AuditEvent, Host, HostStatus, LoginThrottle, User
from panel.models.base import utcnow
from panel.services.accounts import passwords
from panel.testbed.errors import TestbedError


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


# --- accounts ------------------------------------------------------------------------------------

VALID_NIP = "198503152010012003"


def _panel(state: Path):  # type: ignore[no-untyped-def]
    return create_app({"INSTANCE_PATH": str(state / "panel")})


def _wadah(*arguments: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(arguments), input=stdin)


def _one_time_password(output: str) -> str:
    lines = output.splitlines()
    return lines[lines.index(next(line for line in lines if "sekali pakai" in line)) + 1].strip()


def test_user_add_makes_the_first_superadmin_with_a_one_time_password(state: Path) -> None:
    assert _wadah("opd", "add", "diskominfo", "--name", "Dinas Komunikasi dan Informatika").exit_code == 0
    result = _wadah("user", "add", "kadis", "--role", "superadmin", "--opd", "DISKOMINFO", "--email",
                    "kadis@contoh.go.id", "--name", "Kepala Dinas", "--nip", VALID_NIP)
    assert result.exit_code == 0, result.output
    password = _one_time_password(result.output)
    with _panel(state).app_context():
        made = db.session.scalar(select(User).where(User.username == "kadis"))
        assert (made.role_keys, made.opd.code, made.email, made.full_name, made.nip,
                made.must_change_password) == ({"superadmin"}, "DISKOMINFO", "kadis@contoh.go.id",
                                               "Kepala Dinas", VALID_NIP, True)
        assert passwords.verify_password(made.password_hash, password)
        events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        assert [e.action for e in events] == ["opd.create", "user.create", "user.profile"]
        assert {e.actor for e in events} == {f"cli:{getpass.getuser()}"}
        assert password not in json.dumps([e.details for e in events])


def test_user_add_takes_the_password_from_stdin_and_prints_none(state: Path) -> None:
    chosen = "kata-sandi-pilihan-sendiri"
    result = _wadah("user", "add", "teknisi", "--role", "technician", "--password-stdin", stdin=chosen + "\n")
    assert result.exit_code == 0, result.output
    assert chosen not in result.output and "sekali pakai" not in result.output
    with _panel(state).app_context():
        made = db.session.scalar(select(User).where(User.username == "teknisi"))
        assert passwords.verify_password(made.password_hash, chosen) and not made.must_change_password


@pytest.mark.parametrize(("arguments", "message"), [
    (["user", "add", "dua", "--role", "technician"], "sudah dipakai"),
    (["user", "add", "baru", "--role", "kepala"], "Peran 'kepala' tidak dikenal"),
    (["user", "add", "baru", "--role", "opd_admin", "--opd", "ENTAH"], "OPD 'ENTAH' tidak dikenal"),
    (["user", "add", "baru", "--role", "opd_admin"], "harus terikat pada satu OPD"),
    (["user", "add", "baru", "--role", "auditor", "--email", "baru@"], "surel"),
    (["user", "add", "baru", "--role", "auditor", "--nip", "12345"], "NIP harus 18 angka"),
    (["user", "add", "Baru Sekali", "--role", "auditor"], "tidak sah"),
    (["opd", "add", "DINKES", "--name", "Dinas Kesehatan Lagi"], "sudah terdaftar"),
    (["opd", "add", "DIN KES", "--name", "Dinas"], "tidak sah"),
    (["user", "passwd", "hantu"], "tidak dikenal"),
    (["user", "unlock", "hantu"], "tidak dikenal"),
    (["opd", "enable", "DINKES"], "sudah aktif"),
    (["opd", "disable", "ENTAH"], "tidak dikenal"),
])
def test_bad_input_is_refused_clearly_and_nothing_is_written(state: Path, arguments: list[str],
                                                             message: str) -> None:
    assert _wadah("opd", "add", "DINKES", "--name", "Dinas Kesehatan").exit_code == 0
    assert _wadah("user", "add", "dua", "--role", "technician").exit_code == 0
    with _panel(state).app_context():
        before = (db.session.query(User).count(), db.session.query(AuditEvent).count())
    result = _wadah(*arguments)
    assert result.exit_code == 1 and message in result.output, result.output
    with _panel(state).app_context():
        assert (db.session.query(User).count(), db.session.query(AuditEvent).count()) == before


def test_a_disabled_opd_takes_no_new_user(state: Path) -> None:
    assert _wadah("opd", "add", "DINKES", "--name", "Dinas Kesehatan").exit_code == 0
    assert _wadah("opd", "disable", "dinkes").exit_code == 0
    refused = _wadah("user", "add", "baru", "--role", "opd_admin", "--opd", "DINKES")
    assert refused.exit_code == 1 and "nonaktif" in refused.output
    assert _wadah("opd", "enable", "DINKES").exit_code == 0
    assert _wadah("user", "add", "baru", "--role", "opd_admin", "--opd", "DINKES").exit_code == 0
    with _panel(state).app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[:3] == ["opd.create", "opd.deactivate", "opd.activate"]


def test_a_weak_password_on_stdin_is_refused(state: Path) -> None:
    result = _wadah("user", "add", "lemah", "--role", "auditor", "--password-stdin", stdin="pendek\n")
    assert result.exit_code == 1 and "minimal 12 karakter" in result.output
    empty = _wadah("user", "add", "lemah", "--role", "auditor", "--password-stdin", stdin="")
    assert empty.exit_code == 1 and "Tidak ada kata sandi" in empty.output


def test_passwd_unlock_reset_totp_and_disable(state: Path) -> None:
    import pyotp

    from panel.services.accounts import totp

    assert _wadah("user", "add", "admin1", "--role", "superadmin").exit_code == 0
    assert _wadah("user", "add", "admin2", "--role", "superadmin").exit_code == 0
    with _panel(state).app_context():
        admin2 = db.session.scalar(select(User).where(User.username == "admin2"))
        secret = totp.new_secret()
        totp.enable(admin2, secret, pyotp.TOTP(secret).now())
        db.session.add(LoginThrottle(account="admin2", address="127.0.0.9", failures=9,
                                     last_failure_at=utcnow(), blocked_until=utcnow() + timedelta(hours=1)))
        db.session.commit()

    result = _wadah("user", "passwd", "admin2")
    assert result.exit_code == 0, result.output
    password = _one_time_password(result.output)
    assert _wadah("user", "unlock", "admin2").exit_code == 0
    assert _wadah("user", "reset-totp", "admin2").exit_code == 0
    again = _wadah("user", "reset-totp", "admin2")
    assert again.exit_code == 1 and "tidak memakai verifikasi dua langkah" in again.output
    assert _wadah("user", "disable", "admin2").exit_code == 0
    last = _wadah("user", "disable", "admin1")
    assert last.exit_code == 1 and "aktif terakhir" in last.output
    with _panel(state).app_context():
        admin1, admin2 = (db.session.scalar(select(User).where(User.username == name))
                          for name in ("admin1", "admin2"))
        assert passwords.verify_password(admin2.password_hash, password) and admin2.must_change_password
        assert not admin2.totp_enabled and not admin2.active and admin1.active
        assert db.session.query(LoginThrottle).count() == 0
        actions = [e.action for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.target_id == str(admin2.id),
                                     AuditEvent.action.startswith("user.")).order_by(AuditEvent.id))]
        assert actions[-4:] == ["user.password_reset", "user.unlock", "user.totp_reset", "user.deactivate"]


def test_a_production_instance_refuses_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from panel import embedded

    monkeypatch.setenv("WADAH_STATE_DIR", str(tmp_path))
    written = _wadah("init-config", "--production")
    assert written.exit_code == 0
    assert "PRODUCTION = true" in (tmp_path / "panel" / "wadah.toml").read_text()
    database.upgrade(f"sqlite:///{tmp_path / 'panel' / 'wadah.db'}")
    refused = _wadah("seed-demo")
    assert refused.exit_code == 1 and "produksi" in refused.output
    with pytest.raises(TestbedError, match="produksi"):
        embedded._prepare_database(tmp_path / "panel")  # what `wadah up` seeds with
    with _panel(tmp_path).app_context():
        assert db.session.query(User).count() == 0
    assert not (tmp_path / "panel" / embedded.DEMO_LOGINS).exists()
    # The way in on such an instance: the command line.
    assert _wadah("user", "add", "admin", "--role", "superadmin").exit_code == 0


def test_the_embedded_default_still_seeds_the_demo(state: Path) -> None:
    result = _wadah("seed-demo")
    assert result.exit_code == 0 and "superadmin" in result.output and "opd.dinkes" in result.output


def test_wadah_user_add_as_a_real_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]  # this tree's panel, whatever is installed
    env = {**os.environ, "WADAH_STATE_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    for command in (["init-config"], ["db", "upgrade"]):
        subprocess.run([sys.executable, "-m", "panel.cli", *command], env=env, check=True,
                       capture_output=True, timeout=300)
    done = subprocess.run([sys.executable, "-m", "panel.cli", "user", "add", "pertama", "--role",
                           "superadmin", "--password-stdin"], env=env, input="gunung-dempo-berkabut-77\n",
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Pengguna pertama dibuat (superadmin)." in done.stdout
    twice = subprocess.run([sys.executable, "-m", "panel.cli", "user", "add", "pertama", "--role", "auditor"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert twice.returncode == 1 and "sudah dipakai" in twice.stderr
    with _panel(tmp_path).app_context():
        made = db.session.scalar(select(User).where(User.username == "pertama"))
        assert made.role_keys == {"superadmin"}
        assert passwords.verify_password(made.password_hash, "gunung-dempo-berkabut-77")
        assert db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "user.create")) \
            == f"cli:{getpass.getuser()}"
