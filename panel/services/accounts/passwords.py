"""Password hashing (Argon2id) and the password policy."""
from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from panel.i18n import gettext as _

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# Readable characters only: a generated password is read aloud or copied from a handover screen.
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "Il1O0o")


class WeakPassword(ValueError):
    pass


def check_policy(password: str, min_length: int, username: str = "") -> None:
    """Raise WeakPassword if `password` does not meet the policy."""
    if len(password) < min_length:
        raise WeakPassword(_("Kata sandi minimal %(count)d karakter.", count=min_length))
    if username and username.lower() in password.lower():
        raise WeakPassword(_("Kata sandi tidak boleh memuat nama pengguna."))
    if len(set(password)) < 5:
        raise WeakPassword(_("Kata sandi terlalu mudah ditebak."))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def generate_password(length: int = 16) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
