"""Users and sign-in: creation, authentication with lockout, password changes."""
from __future__ import annotations

from datetime import timedelta
from functools import cache

from sqlalchemy import select

from panel import audit
from panel.extensions import db
from panel.models import Opd, Role, RoleKey, User
from panel.models.accounts import DEFAULT_ROLE_LABELS
from panel.models.base import utcnow
from panel.services import passwords


class LoginRefused(Exception):
    """Sign-in failed; the message is safe to show (it never says which part was wrong)."""


class AccountError(ValueError):
    pass


def ensure_roles() -> dict[str, Role]:
    """Create any missing role rows with their default labels; return roles by key."""
    roles = {role.key: role for role in db.session.scalars(select(Role))}
    for key, label in DEFAULT_ROLE_LABELS.items():
        if key not in roles:
            roles[key] = Role(key=key, label=label)
            db.session.add(roles[key])
    return roles


def create_user(
    username: str,
    password: str,
    roles: list[RoleKey],
    *,
    full_name: str = "",
    email: str | None = None,
    opd: Opd | None = None,
    min_length: int = 12,
    must_change_password: bool = False,
) -> User:
    """Create a user with `roles` after checking the password policy."""
    if db.session.scalar(select(User).where(User.username == username)):
        raise AccountError(f"Nama pengguna {username!r} sudah dipakai.")
    passwords.check_policy(password, min_length, username)
    by_key = ensure_roles()
    user = User(
        username=username,
        full_name=full_name,
        email=email,
        opd=opd,
        password_hash=passwords.hash_password(password),
        roles=[by_key[key] for key in roles],
        must_change_password=must_change_password,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, roles=sorted(roles))
    return user


def authenticate(username: str, password: str, *, max_failures: int, lock_minutes: int) -> User:
    """Return the user if `password` is right; count failures and lock the account after too many."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        passwords.verify_password(_dummy_hash(), password)  # same work as a real check: no user probing
        raise LoginRefused("Nama pengguna atau kata sandi salah.")
    if user.is_locked():
        audit.record("auth.login_locked", user, actor=user)
        raise LoginRefused("Akun terkunci sementara karena terlalu banyak percobaan. Coba lagi nanti.")
    if not user.active or not passwords.verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = utcnow() + timedelta(minutes=lock_minutes)
            user.failed_logins = 0
            audit.record("auth.lock", user, actor=user, minutes=lock_minutes)
        else:
            audit.record("auth.login_failed", user, actor=user)
        raise LoginRefused("Nama pengguna atau kata sandi salah.")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    audit.record("auth.login", user, actor=user)
    return user


def change_password(user: User, current: str, new: str, *, min_length: int) -> None:
    """Replace the user's password after checking the current one and the policy."""
    if not passwords.verify_password(user.password_hash, current):
        raise AccountError("Kata sandi saat ini salah.")
    if current == new:
        raise AccountError("Kata sandi baru harus berbeda dari yang lama.")
    passwords.check_policy(new, min_length, user.username)
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    audit.record("auth.password_change", user, actor=user)



@cache
def _dummy_hash() -> str:
    return passwords.hash_password("wadah-dummy-password-for-timing")
