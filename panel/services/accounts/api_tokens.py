"""Personal API tokens: issue one (shown once), find its owner from a request header, revoke it.

A token reads `wadah_<prefix>_<secret>`. The prefix is public and indexed; only a SHA-256 of the
secret is stored, compared in constant time.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import ApiToken, User
from panel.models.base import utcnow
from panel.services.refused import Refused

MAX_TOKENS_PER_USER = 20
_TOKEN = re.compile(r"wadah_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})")
# Writing last_used_at on every call would make each API read a write; a coarse mark is enough.
_USE_MARK_INTERVAL = timedelta(minutes=5)


class TokenRefused(Refused):
    """A token cannot be issued (too many, bad name or lifetime, second factor missing)."""


def issue(user: User, name: str, lifetime_days: int | None, *, max_days: int,
          second_factor_roles: Collection[str]) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it with the clear token, which is never stored or shown again.

    Every token expires within `max_days`; a user whose role must use the second factor gets none
    until it is on, since a token would let them act without it.
    """
    if user.has_role(*second_factor_roles) and not user.totp_enabled:
        raise TokenRefused(_("Peran Anda wajib memakai verifikasi dua langkah. Aktifkan dulu, "
                             "baru buat token API."))
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise TokenRefused(_("Nama token wajib diisi (paling banyak %(count)d karakter).", count=100))
    if lifetime_days is None or not 1 <= lifetime_days <= max_days:
        raise TokenRefused(_("Masa berlaku token wajib diisi: 1 sampai %(days)d hari.", days=max_days))
    if len(active_tokens(user)) >= MAX_TOKENS_PER_USER:
        raise TokenRefused(_("Paling banyak %(count)d token aktif; cabut yang tidak dipakai.",
                              count=MAX_TOKENS_PER_USER))
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=prefix, secret_sha256=_digest(secret),
                     expires_at=utcnow() + timedelta(days=lifetime_days))
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.issue", token, actor=user, name=name, prefix=prefix)
    return token, f"wadah_{prefix}_{secret}"


def active_tokens(user: User) -> list[ApiToken]:
    """Return `user`'s tokens that are neither revoked nor expired, newest first."""
    now = utcnow()
    return [token for token in db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id.desc()))
        if not _expired(token, now)]


def revoke(token: ApiToken, by: User) -> None:
    """Revoke `token` at once; requests carrying it are refused from now on."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("api_token.revoke", token, actor=by, prefix=token.prefix)


def revoke_all(user: User, *, by: User | None, reason: str) -> int:
    """Revoke every token of `user` that still works; return how many."""
    tokens = active_tokens(user)
    for token in tokens:
        token.revoked_at = utcnow()
    if tokens:
        audit.record("api_token.revoke_all", user, actor=by, count=len(tokens), reason=reason)
    return len(tokens)


def user_for(authorization: str | None, *, max_days: int,
             second_factor_roles: Collection[str]) -> User | None:
    """Return the active user an `Authorization: Bearer` header stands for, or None.

    A token older than `max_days` is refused whatever expiry it was issued with (the limit may have
    been lowered since), and so is one whose owner's role requires a second factor they do not hold.
    """
    if not authorization or not authorization.startswith("Bearer "):
        return None
    match = _TOKEN.fullmatch(authorization.removeprefix("Bearer ").strip())
    if match is None:
        return None
    prefix, secret = match.groups()
    token = db.session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    now = utcnow()
    if (token is None or token.revoked_at is not None or _expired(token, now)
            or _aware(token.created_at) + timedelta(days=max_days) <= now
            or not hmac.compare_digest(token.secret_sha256, _digest(secret))):
        return None
    # A disabled account, or one that must first change its password in the web panel, cannot act.
    owner = token.user
    if not owner.active or owner.must_change_password or (
            owner.has_role(*second_factor_roles) and not owner.totp_enabled):
        return None
    if token.last_used_at is None or _aware(token.last_used_at) < now - _USE_MARK_INTERVAL:
        token.last_used_at = now
        db.session.commit()
    return owner


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _expired(token: ApiToken, now: datetime) -> bool:
    return _aware(token.expires_at) <= now


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)
