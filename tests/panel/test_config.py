from __future__ import annotations

from pathlib import Path

import pytest

from panel import config as configuration
from panel import create_app


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
