from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from panel import config as configuration
from panel import create_app
from tests.support import unavailable


def test_order_is_defaults_then_instance_file_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "wadah.toml").write_text(
        'PEMDA_NAME = "Kabupaten Berkas"\nPEMDA_DOMAIN = "berkas.go.id"\nLOGIN_FREE_ATTEMPTS = 7\n'
    )
    monkeypatch.setenv("WADAH_PEMDA_DOMAIN", "env.go.id")
    monkeypatch.setenv("WADAH_LOGIN_FREE_ATTEMPTS", "9")
    loaded = configuration.load(tmp_path, {"LOGIN_FREE_ATTEMPTS": 3})
    assert loaded["PEMDA_NAME"] == "Kabupaten Berkas"  # instance file over default
    assert loaded["PEMDA_DOMAIN"] == "env.go.id"  # environment over instance file
    assert loaded["LOGIN_FREE_ATTEMPTS"] == 3  # override over environment
    assert loaded["PASSWORD_MIN_LENGTH"] == 12  # default kept


def test_instance_file_is_written_once_with_private_mode(tmp_path: Path) -> None:
    path = configuration.write_instance_file(tmp_path, {"SESSION_COOKIE_SECURE": False})
    first = path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert "SECRET_KEY" in first and "SECRETS_KEY" in first
    configuration.write_instance_file(tmp_path, {})
    assert path.read_text() == first  # never regenerates secrets
    assert configuration.load(tmp_path)["SESSION_COOKIE_SECURE"] is False


def test_app_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


@pytest.mark.parametrize(("text", "named"), [
    ('PEMDA_NAMA = "Kabupaten Salah"\n', "kunci PEMDA_NAMA tidak dikenal; maksudnya PEMDA_NAME?"),
    ("trusted_proxies = 1\n", "kunci trusted_proxies tidak dikenal; maksudnya TRUSTED_PROXIES?"),
    ('LOGIN_FREE_ATEMPTS = 5\n', "maksudnya LOGIN_FREE_ATTEMPTS?"),
    ("SESAME = 1\n", "kunci SESAME tidak dikenal"),
])
def test_an_unknown_key_is_an_error_naming_the_nearest_known_one(tmp_path: Path, text: str,
                                                                  named: str) -> None:
    (tmp_path / "wadah.toml").write_text(text)
    with pytest.raises(configuration.ConfigError, match=re.escape(named)) as raised:
        configuration.load(tmp_path)
    assert str(tmp_path / "wadah.toml") in str(raised.value)


@pytest.mark.parametrize(("text", "named"), [
    ('BUNDLE_MAX_BYTES = "256M"\n', "BUNDLE_MAX_BYTES harus berupa bilangan bulat"),
    ("LOGIN_FREE_ATTEMPTS = true\n", "LOGIN_FREE_ATTEMPTS harus berupa bilangan bulat"),
    ('SESSION_COOKIE_SECURE = "false"\n', "SESSION_COOKIE_SECURE harus berupa true/false"),
    ('TRUSTED_PROXY_NETWORKS = "10.0.0.0/8"\n', "TRUSTED_PROXY_NETWORKS harus berupa daftar"),
    ("SECRET_KEY = 12\n", "SECRET_KEY harus berupa teks"),
])
def test_a_value_of_the_wrong_type_is_an_error(tmp_path: Path, text: str, named: str) -> None:
    (tmp_path / "wadah.toml").write_text(text)
    with pytest.raises(configuration.ConfigError, match=named):
        configuration.load(tmp_path)


def test_what_wadah_up_writes_and_the_usual_types_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "wadah.toml").write_text(
        'DNS_SERVER = "127.0.0.1:15353"\nNGINX_HTTP = "127.0.0.1:18080"\nCLAMD_URL = "unix:///x.sock"\n'
        'TOTP_REQUIRED_ROLES = ["superadmin", "technician"]\nPERMANENT_SESSION_LIFETIME = 900\n'
        'TRUSTED_PROXY_NETWORKS = ["10.0.0.2/32"]\n[SQLALCHEMY_ENGINE_OPTIONS]\npool_size = 5\n')
    loaded = configuration.load(tmp_path)
    assert loaded["TRUSTED_PROXY_NETWORKS"] == ["10.0.0.2/32"]
    assert loaded["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_size": 5}


def test_wadah_config_names_the_file_and_the_environment_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc" / "wadah.toml"
    etc.parent.mkdir()
    etc.write_text('PEMDA_NAME = "Kabupaten Etc"\nPEMDA_DOMAIN = "etc.go.id"\n')
    (tmp_path / "wadah.toml").write_text('PEMDA_NAME = "Kabupaten Instance"\n')  # not read
    monkeypatch.setenv("WADAH_CONFIG", str(etc))
    monkeypatch.setenv("WADAH_PEMDA_DOMAIN", "env.go.id")
    monkeypatch.setenv("WADAH_NOT_A_SETTING", "1")  # environment variables are taken as before
    loaded = configuration.load(tmp_path)
    assert loaded["PEMDA_NAME"] == "Kabupaten Etc" and loaded["PEMDA_DOMAIN"] == "env.go.id"
    monkeypatch.setenv("WADAH_CONFIG", str(tmp_path / "missing.toml"))
    assert configuration.load(tmp_path)["PEMDA_NAME"] == "Kabupaten Contoh"  # absent: the defaults


def test_a_broken_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "wadah.toml").write_text("PEMDA_NAME = Kabupaten tanpa tanda kutip\n")
    with pytest.raises(configuration.ConfigError, match="bukan TOML yang sah"):
        configuration.load(tmp_path)


def test_a_file_kept_by_root_for_the_panel_must_not_be_readable_by_everyone(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        unavailable("handing the file to another owner needs root")
    path = tmp_path / "wadah.toml"
    path.write_text('PEMDA_NAME = "Kabupaten Etc"\n')
    os.chown(path, 65534, 65534)  # someone else's, as /etc/wadah/wadah.toml is root's to the panel
    path.chmod(0o644)
    with pytest.raises(configuration.ConfigError, match="dapat dibaca semua pengguna"):
        configuration.load(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o644  # not ours to change
    path.chmod(0o640)
    assert configuration.load(tmp_path)["PEMDA_NAME"] == "Kabupaten Etc"


@pytest.mark.parametrize("command", [["db", "upgrade"], ["web", "--bind", "127.0.0.1:0"]])
def test_a_wadah_command_stops_with_the_error_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from click.testing import CliRunner

    from panel.cli import main

    bad = tmp_path / "wadah.toml"
    bad.write_text('PEMDA_NAMA = "Kabupaten Salah"\n')
    monkeypatch.setenv("WADAH_CONFIG", str(bad))
    monkeypatch.setenv("WADAH_STATE_DIR", str(tmp_path / "state"))  # restored after the test
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1
    assert result.output == f"Error: {bad}: kunci PEMDA_NAMA tidak dikenal; maksudnya PEMDA_NAME?\n"
    assert not (tmp_path / "state").exists()  # stopped before anything was made
