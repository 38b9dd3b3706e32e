"""Users and sign-in: creation, authentication with lockout and second factor, password changes."""
from __future__ import annotations

from datetime import timedelta
from functools import cache

from sqlalchemy import select

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import Opd, Role, RoleKey, User
from panel.models.accounts import DEFAULT_ROLE_LABELS
from panel.models.base import utcnow
from panel.services import passwords, totp

_LOCKED = _l("Akun terkunci sementara karena terlalu banyak percobaan. Coba lagi nanti.")


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
        raise AccountError(_("Nama pengguna %(username)s sudah dipakai.", username=repr(username)))
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
    """Return the user if `password` is right; count failures and lock the account after too many.

    A user with the TOTP second factor on is not signed in yet: `verify_second_factor` finishes it, and
    until then the failure count stands, so knowing the password does not wipe out wrong codes.
    """
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        passwords.verify_password(_dummy_hash(), password)  # same work as a real check: no user probing
        raise LoginRefused(_("Nama pengguna atau kata sandi salah."))
    _refuse_if_locked(user)
    if not user.active or not passwords.verify_password(user.password_hash, password):
        _count_failure(user, "auth.login_failed", max_failures, lock_minutes)
        raise LoginRefused(_("Nama pengguna atau kata sandi salah."))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_enabled:
        audit.record("auth.second_factor_required", user, actor=user)
        return user
    return _signed_in(user)


def verify_second_factor(user: User, code: str, *, max_failures: int, lock_minutes: int) -> User:
    """Finish signing in `user` with a TOTP or recovery code; a wrong code counts like a wrong password."""
    _refuse_if_locked(user)
    if not user.active:
        raise LoginRefused(_("Nama pengguna atau kata sandi salah."))
    try:
        totp.verify(user, code)
    except totp.SecondFactorRefused as refused:
        _count_failure(user, "auth.second_factor_failed", max_failures, lock_minutes)
        raise LoginRefused(str(refused)) from None
    return _signed_in(user)


def enable_second_factor(user: User, password: str, secret: str, code: str) -> list[str]:
    """Switch on the second factor after checking the password and a code; return the recovery codes."""
    if not passwords.verify_password(user.password_hash, password):
        raise AccountError(_("Kata sandi saat ini salah."))
    try:
        return totp.enable(user, secret, code)
    except totp.SecondFactorRefused as refused:
        raise AccountError(str(refused)) from None


def disable_second_factor(user: User, password: str, code: str, *, max_failures: int,
                          lock_minutes: int) -> None:
    """Switch off `user`'s second factor after checking the current password and a code."""
    if user.is_locked():
        raise AccountError(str(_LOCKED))
    if not passwords.verify_password(user.password_hash, password):
        # Counted: a hijacked session must not become a way to guess codes or passwords without limit.
        _count_failure(user, "auth.totp_disable_failed", max_failures, lock_minutes)
        raise AccountError(_("Kata sandi saat ini salah."))
    try:
        totp.verify(user, code)
    except totp.SecondFactorRefused as refused:
        _count_failure(user, "auth.totp_disable_failed", max_failures, lock_minutes)
        raise AccountError(str(refused)) from None
    totp.disable(user)


def _refuse_if_locked(user: User) -> None:
    if user.is_locked():
        audit.record("auth.login_locked", user, actor=user)
        raise LoginRefused(str(_LOCKED))


def _count_failure(user: User, action: str, max_failures: int, lock_minutes: int) -> None:
    user.failed_logins += 1
    if user.failed_logins >= max_failures:
        user.locked_until = utcnow() + timedelta(minutes=lock_minutes)
        user.failed_logins = 0
        audit.record("auth.lock", user, actor=user, minutes=lock_minutes)
    else:
        audit.record(action, user, actor=user)


def _signed_in(user: User) -> User:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    audit.record("auth.login", user, actor=user)
    return user


def change_password(user: User, current: str, new: str, *, min_length: int) -> None:
    """Replace the user's password after checking the current one and the policy."""
    if not passwords.verify_password(user.password_hash, current):
        raise AccountError(_("Kata sandi saat ini salah."))
    if current == new:
        raise AccountError(_("Kata sandi baru harus berbeda dari yang lama."))
    passwords.check_policy(new, min_length, user.username)
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    audit.record("auth.password_change", user, actor=user)



@cache
def _dummy_hash() -> str:
    return passwords.hash_password("wadah-dummy-password-for-timing")
