"""Secrets at rest (TSIG keys, app database passwords, env values): Fernet with the panel's key.

`EncryptedText` columns encrypt on write and decrypt on read with SECRETS_KEY from the config, so a
database dump or backup never holds a secret in clear.
"""
from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class SecretUnreadable(ValueError):
    """A stored secret cannot be decrypted with the configured key(s)."""


def _box() -> MultiFernet:
    # SECRETS_KEY may list several keys, newest first, so keys can be rotated without downtime.
    keys = current_app.config["SECRETS_KEY"]
    keys = keys if isinstance(keys, list) else [keys]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "rahasia tersimpan tidak dapat dibuka dengan kunci yang dikonfigurasi") from error


class EncryptedText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt(value)
