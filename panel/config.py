"""Configuration, read in one place and one order: defaults → instance file → WADAH_* env → overrides."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from panel import private_files

ENV_PREFIX = "WADAH_"
INSTANCE_FILE = "wadah.toml"


def state_dir() -> Path:
    """Return the directory holding Wadah's local state (database, artifacts, testbed, logs)."""
    return Path(os.environ.get("WADAH_STATE_DIR") or Path.home() / ".local/state/wadah")


def defaults(instance_path: Path) -> dict[str, Any]:
    """Return the built-in configuration: the embedded one-machine setup."""
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance_path / 'wadah.db'}",
        "ARTIFACT_DIR": str(instance_path / "artifacts"),
        "ATTACHMENT_DIR": str(instance_path / "attachments"),
        "BUNDLE_MAX_BYTES": 256 * 1024 * 1024,
        "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
        "JOBS_BACKEND": f"sqlite:///{instance_path / 'jobs.db'}",
        "JOBS_IMMEDIATE": False,
        "PEMDA_NAME": "Kabupaten Contoh",
        "PEMDA_DOMAIN": "contoh.go.id",
        "DINAS_NAME": "Dinas Komunikasi dan Informatika",
        "DINAS_UNIT": "Bidang Penyelenggaraan E-Government",
        "DINAS_ADDRESS": "Jalan Merdeka Nomor 1, Kabupaten Contoh",
        "DINAS_CITY": "Contoh",
        "DINAS_CONTACT": "",
        # WIB (Asia/Jakarta), WITA (Asia/Makassar) or WIT (Asia/Jayapura): every time the panel shows.
        "PEMDA_TIMEZONE": "WIB",
        # A production instance refuses the demo Pemda (`wadah seed-demo`, `wadah up`); `wadah
        # init-config --production` sets it, and the first superadmin comes from `wadah user add`.
        "PRODUCTION": False,
        "PANEL_URL": "http://127.0.0.1:8000/",
        "REQUEST_NUMBER_PATTERN": "{seq:03d}/HOST/DISKOMINFO/{year}",
        "DEFAULT_SOP_TEMPLATE": "muara_enim",
        "RESERVED_SUBDOMAINS_EXTRA": [],
        "SUBDOMAIN_MIN_LENGTH": 3,
        "SUBDOMAIN_ALLOWED_WORDS": ["diskominfo"],
        "TLS_CHECK_PORT": 443,  # where the Web Panel's domain check asks for an app's certificate
        "BABEL_DEFAULT_LOCALE": "id",
        "PASSWORD_MIN_LENGTH": 12,  # BSSN 4/2021
        "TOTP_REQUIRED_ROLES": ("superadmin",),  # a second factor before anything else
        # Failed sign-ins (passwords and second-factor codes) before each further one waits twice as
        # long as the last: from one address at one account, from one address at any account, and at
        # one account from anywhere, whose wait stays short so a stranger cannot lock its owner out.
        "LOGIN_FREE_ATTEMPTS": 3,
        "LOGIN_ADDRESS_FREE_ATTEMPTS": 20,
        "LOGIN_ACCOUNT_FREE_ATTEMPTS": 10,
        "LOGIN_MAX_WAIT_SECONDS": 15 * 60,
        "LOGIN_ACCOUNT_MAX_WAIT_SECONDS": 30,
        "LOGIN_RATE_LIMIT": "10 per minute",
        "API_TOKEN_MAX_DAYS": 90,  # every personal API token expires within this
        # Reverse proxies in front of the panel whose X-Forwarded-For/-Proto are believed. The panel
        # listens on 127.0.0.1 behind one (systemd unit); believing none there would make every client
        # one address, whose sign-in throttle a stranger could then trip for all. 0 only without a proxy.
        "TRUSTED_PROXIES": 1,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "MAX_CONTENT_LENGTH": 300 * 1024 * 1024,  # a bundle and its letters; refused while streaming
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "wadah_session",
        "REMEMBER_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=30),  # idle timeout: refreshed per request
        "SESSION_REFRESH_EACH_REQUEST": True,
        "WTF_CSRF_TIME_LIMIT": None,  # the session lifetime already bounds the token
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SMTP_HOST": "",  # empty: notices are only logged
        "SMTP_PORT": 25,
        "SMTP_STARTTLS": False,
        "SMTP_USERNAME": "",
        "SMTP_PASSWORD": "",
        "SMTP_TIMEOUT": 10,
        "MAIL_FROM": "Wadah <wadah@contoh.go.id>",
        "CLAMD_URL": None,  # None: the scanner's own default socket
    }


def instance_file(instance_path: Path) -> Path:
    """Return the file the configuration is read from (`WADAH_CONFIG`, else the instance folder's)."""
    return Path(os.environ.get("WADAH_CONFIG") or instance_path / INSTANCE_FILE)


def load(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the merged configuration for an app whose instance folder is `instance_path`."""
    config = defaults(instance_path)
    config_file = instance_file(instance_path)
    if config_file.is_file():
        private_files.tighten(config_file)  # it holds SECRET_KEY and SECRETS_KEY
        with config_file.open("rb") as fh:
            config.update(tomllib.load(fh))
    config.update(_from_environment())
    config.update(overrides or {})
    return config


def _from_environment() -> dict[str, Any]:
    # Values that parse as JSON (numbers, booleans, lists) are taken as such; the rest as strings.
    config: dict[str, Any] = {}
    for name, raw in os.environ.items():
        if not name.startswith(ENV_PREFIX) or name in ("WADAH_CONFIG", "WADAH_STATE_DIR"):
            continue
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        config[name.removeprefix(ENV_PREFIX)] = value
    return config


def write_instance_file(instance_path: Path, settings: dict[str, Any]) -> Path:
    """Create the instance file with fresh secrets unless it exists; return its path."""
    path = instance_path / INSTANCE_FILE
    private_files.private_dir(instance_path)
    if path.exists():
        private_files.tighten(path)
        return path
    values = {"SECRET_KEY": secrets.token_urlsafe(48), "SECRETS_KEY": _fernet_key(), **settings}
    lines = [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    text = "# Wadah panel configuration (generated; keep secret)\n" + "\n".join(lines) + "\n"
    with contextlib.suppress(FileExistsError):  # another process wrote it first: its secrets stand
        private_files.write(path, text, exclusive=True)
    return path


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
