"""Configuration, read in one place and one order: defaults → instance file → WADAH_* env → overrides.

The instance file is `WADAH_CONFIG` when set (the systemd units set /etc/wadah/wadah.toml), else
`wadah.toml` in the instance folder. A key in it that the panel does not know, or a value of the
wrong type, stops the panel with the key's name (and the nearest known key): a misspelt setting
silently ignored is a security setting silently off. Environment variables are taken as before.
"""
from __future__ import annotations

import contextlib
import difflib
import json
import os
import secrets
import stat
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

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
        # The addresses those proxies connect from: X-Forwarded-* from any other peer is not believed.
        "TRUSTED_PROXY_NETWORKS": ["127.0.0.1/32", "::1/128"],
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


class ConfigError(click.ClickException, ValueError):
    """The instance file cannot be used: unreadable, not TOML, an unknown key or a wrong type.

    A ClickException so that every `wadah` command stops with this one line, not a traceback.
    """


# Keys the panel reads or `wadah up` writes that have no default (those in `defaults` are typed by
# their default value; Flask's own keys by Flask's defaults).
EXTRA_KEYS: dict[str, tuple[type, ...]] = {
    "SECRET_KEY": (str,),
    "SECRETS_KEY": (str,),
    "BABEL_DEFAULT_TIMEZONE": (str,),
    "FRONT_IP": (str,),  # the address the hosting letters name when an app has none of its own
    "DNS_SERVER": (str,),  # written by `wadah up`: where the local services listen (informative)
    "NGINX_HTTP": (str,),
    "CLAMD_URL": (str,),
    "WTF_CSRF_TIME_LIMIT": (int,),
    "WTF_CSRF_ENABLED": (bool,),
    "RATELIMIT_ENABLED": (bool,),
    "RATELIMIT_STORAGE_OPTIONS": (dict,),
    "SQLALCHEMY_ECHO": (bool,),
    "PERMANENT_SESSION_LIFETIME": (int, timedelta),  # seconds in the file
}
TYPE_NAMES = {str: "teks", int: "bilangan bulat", bool: "true/false", list: "daftar", dict: "tabel",
              float: "bilangan", timedelta: "jumlah detik"}


def known_keys(instance_path: Path) -> dict[str, tuple[type, ...] | None]:
    """Return every key the instance file may set, with its accepted types (None: any)."""
    from flask import Flask

    known: dict[str, tuple[type, ...] | None] = {
        key: None if value is None else _types_of(value) for key, value in Flask.default_config.items()}
    known.update({key: _types_of(value) for key, value in defaults(instance_path).items()
                  if value is not None})
    known.update(EXTRA_KEYS)
    return known


def _types_of(value: Any) -> tuple[type, ...]:
    if isinstance(value, bool):
        return (bool,)
    if isinstance(value, list | tuple):
        return (list, tuple)
    if isinstance(value, timedelta):
        return (int, timedelta)
    return (type(value),)


def check(settings: Mapping[str, Any], instance_path: Path, source: Path) -> None:
    """Raise ConfigError naming the first key of `settings` that is unknown or of the wrong type."""
    known = known_keys(instance_path)
    for key, value in settings.items():
        if key not in known:
            close = difflib.get_close_matches(key.upper(), known, n=1, cutoff=0.6)
            hint = f"; maksudnya {close[0]}?" if close else ""
            message = f"{source}: kunci {key} tidak dikenal{hint}"
            raise ConfigError(message)
        types = known[key]
        if types is None:
            continue
        # bool is an int to Python, never to an operator: `LOGIN_FREE_ATTEMPTS = true` is a mistake.
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            wanted = " atau ".join(dict.fromkeys(TYPE_NAMES.get(t, t.__name__) for t in types))
            message = f"{source}: {key} harus berupa {wanted}, bukan {value!r}"
            raise ConfigError(message)


def read_instance_file(path: Path, instance_path: Path) -> dict[str, Any]:
    """Return the settings of the instance file `path`, checked against the known keys."""
    _guard_secrets(path)
    try:
        with path.open("rb") as fh:
            settings = tomllib.load(fh)
    except tomllib.TOMLDecodeError as error:
        message = f"{path}: bukan TOML yang sah ({error})"
        raise ConfigError(message) from error
    except OSError as error:
        message = f"{path}: tidak dapat dibaca ({error.strerror})"
        raise ConfigError(message) from error
    check(settings, instance_path, path)
    return settings


def _guard_secrets(path: Path) -> None:
    # It holds SECRET_KEY and SECRETS_KEY: ours is made owner-only; one root keeps for us
    # (root:wadah 0640 under /etc) must at least not be readable by everyone.
    info = path.stat()
    if info.st_uid == os.geteuid():
        private_files.tighten(path)
    elif info.st_mode & stat.S_IRWXO:
        message = f"{path}: dapat dibaca semua pengguna; jadikan 0640 atau 0600"
        raise ConfigError(message)


def load(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the merged configuration for an app whose instance folder is `instance_path`."""
    config = defaults(instance_path)
    config_file = instance_file(instance_path)
    if config_file.is_file():
        config.update(read_instance_file(config_file, instance_path))
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
