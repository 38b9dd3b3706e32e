"""Users and sign-in: creation, throttled authentication with a second factor, password changes, sessions."""
from __future__ import annotations

from functools import cache

from sqlalchemy import select, update

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import Opd, Role, RoleKey, User
from panel.models.accounts import DEFAULT_ROLE_LABELS
from panel.models.base import utcnow
from panel.services.accounts import api_tokens, login_throttle, passwords, totp
from panel.services.refused import Refused

# The one answer to a refused sign-in, whatever the reason: nobody learns which names exist.
REFUSED = _l("Nama pengguna atau kata sandi salah, atau terlalu banyak percobaan. "
             "Tunggu sebentar lalu coba lagi.")
WAIT = _l("Terlalu banyak percobaan. Tunggu sebentar lalu coba lagi.")


class LoginRefused(Exception):
    """Sign-in failed; the message is safe to show (it never says which part was wrong)."""


class AccountError(Refused):
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


def authenticate(username: str, password: str, *, address: str | None, policy: login_throttle.Policy) -> User:
    """Return the user if `password` is right and no throttle holds the attempt back; else refuse.

    An unknown name, a wrong password and a throttled attempt get the same answer after the same
    work (one Argon2 verification), so the answer tells nobody which names exist. A user with the
    TOTP second factor on is not signed in yet: `verify_second_factor` finishes it, and until then
    this client's failures stand, so knowing the password does not wipe out wrong codes.
    """
    user = db.session.scalar(select(User).where(User.username == username))
    if login_throttle.waiting(username, address or "", policy, user=user):
        passwords.verify_password(_dummy_hash(), password)
        raise LoginRefused(str(REFUSED))
    if user is None:
        passwords.verify_password(_dummy_hash(), password)
        login_throttle.failed(username, address or "", policy)
        raise LoginRefused(str(REFUSED))
    if not passwords.verify_password(user.password_hash, password) or not user.active:
        audit.record("auth.login_failed", user, actor=user)
        login_throttle.failed(username, address or "", policy, user=user)
        raise LoginRefused(str(REFUSED))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_enabled:
        audit.record("auth.second_factor_required", user, actor=user)
        return user
    return _signed_in(user, address)


def verify_second_factor(user: User, code: str, *, address: str | None,
                         policy: login_throttle.Policy) -> User:
    """Finish signing in `user` with a TOTP or recovery code; a wrong code counts like a wrong password."""
    if login_throttle.waiting(user.username, address or "", policy, user=user):
        raise LoginRefused(str(WAIT))
    if not user.active:
        raise LoginRefused(str(REFUSED))
    try:
        totp.verify(user, code)
    except totp.SecondFactorRefused as refused:
        audit.record("auth.second_factor_failed", user, actor=user)
        login_throttle.failed(user.username, address or "", policy, user=user)
        raise LoginRefused(str(refused)) from None
    return _signed_in(user, address)


def enable_second_factor(user: User, password: str, secret: str, code: str, *, address: str | None,
                         policy: login_throttle.Policy) -> list[str]:
    """Switch on the second factor after checking the password and a code; return the recovery codes.

    Every session signed in before ends: the caller signs the current one in again.
    """
    _check_password(user, password, address, policy)
    try:
        codes = totp.enable(user, secret, code)
    except totp.SecondFactorRefused as refused:
        raise AccountError(str(refused)) from None
    end_sessions(user)
    return codes


def disable_second_factor(user: User, password: str, code: str, *, address: str | None,
                          policy: login_throttle.Policy) -> None:
    """Switch off `user`'s second factor after checking the current password and a code.

    Wrong passwords and codes count like wrong sign-ins: a hijacked session must not become a way to
    guess either without limit. Every session signed in before ends; the caller re-signs the current one.
    """
    _check_password(user, password, address, policy, failure="auth.totp_disable_failed")
    try:
        totp.verify(user, code)
    except totp.SecondFactorRefused as refused:
        audit.record("auth.totp_disable_failed", user, actor=user)
        login_throttle.failed(user.username, address or "", policy, user=user)
        raise AccountError(str(refused)) from None
    totp.disable(user)
    end_sessions(user)


def change_password(user: User, current: str, new: str, *, min_length: int, address: str | None,
                    policy: login_throttle.Policy) -> int:
    """Replace the user's password after checking the current one and the policy; return tokens revoked.

    Every session signed in before ends (the caller signs the current one in again) and every API
    token is revoked: whoever knew the old password must keep nothing they could have made with it.
    """
    _check_password(user, current, address, policy)
    if current == new:
        raise AccountError(_("Kata sandi baru harus berbeda dari yang lama."))
    passwords.check_policy(new, min_length, user.username)
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    audit.record("auth.password_change", user, actor=user)
    end_sessions(user)
    return api_tokens.revoke_all(user, by=user, reason="password_change")


def sign_out(user: User) -> None:
    """End every session of `user`, this one included."""
    end_sessions(user)
    audit.record("auth.logout", user, actor=user)


def end_sessions(user: User) -> None:
    """Make every session cookie issued to `user` so far worthless, on the server."""
    db.session.execute(update(User).where(User.id == user.id)
                       .values(session_epoch=User.session_epoch + 1))
    db.session.refresh(user, ["session_epoch"])


def deactivate(user: User, *, by: User | None) -> None:
    """Disable `user`: no sign-in, every session ended, every API token revoked."""
    user.active = False
    end_sessions(user)
    api_tokens.revoke_all(user, by=by, reason="deactivate")
    audit.record("user.deactivate", user, actor=by)


def _check_password(user: User, password: str, address: str | None, policy: login_throttle.Policy,
                    failure: str = "auth.password_check_failed") -> None:
    # A signed-in user re-proves the password: throttled like a sign-in, but the answer may be plain.
    if login_throttle.waiting(user.username, address or "", policy, user=user):
        raise AccountError(str(WAIT))
    if not passwords.verify_password(user.password_hash, password):
        audit.record(failure, user, actor=user)
        login_throttle.failed(user.username, address or "", policy, user=user)
        raise AccountError(_("Kata sandi saat ini salah."))


def _signed_in(user: User, address: str | None) -> User:
    user.last_login_at = utcnow()
    login_throttle.succeeded(user.username, address or "")
    audit.record("auth.login", user, actor=user)
    return user


@cache
def _dummy_hash() -> str:
    return passwords.hash_password("wadah-dummy-password-for-timing")
