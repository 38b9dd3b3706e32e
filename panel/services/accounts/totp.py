"""The optional TOTP second factor (RFC 6238): enrolment, code checks that refuse replays, recovery codes.

The secret is kept encrypted (`User.totp_secret`); recovery codes only as SHA-256 digests. Neither is
ever logged or written to the audit trail.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any, cast

import pyotp
import segno
from sqlalchemy import CursorResult, Result, delete, func, or_, select, update

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import RecoveryCode, User
from panel.models.base import utcnow
from panel.services.refused import Refused

# One step either side of now: a phone clock up to 30 seconds off still works, and no more than that.
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 8
# Lower-case letters and digits without the look-alikes (0/o, 1/l/i): 16 of 31 is about 79 bits, random
# enough that a plain SHA-256 digest needs no slow hash (as with API tokens).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 16
_TOTP_DIGITS = 6


class SecondFactorRefused(Refused):
    """A code was not accepted; the message is safe to show."""


def new_secret() -> str:
    """Return a fresh random base32 secret (160 bits) for an authenticator app."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """Return the otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """Return `uri` as an inline SVG QR code without any style attribute (the CSP allows no inline style)."""
    return segno.make(uri, error="m").svg_inline(
        scale=4, light="#fff", title=_("Kode QR untuk aplikasi autentikator"), svgclass="qr", lineclass=None)


def enable(user: User, secret: str, code: str, *, now: datetime | None = None) -> list[str]:
    """Switch the second factor on once `code` proves the app holds `secret`; return new recovery codes."""
    if user.totp_enabled:
        raise SecondFactorRefused(_("Verifikasi dua langkah sudah aktif."))
    step = _matching_step(secret, _compact(code), after=None, now=now)
    user.totp_secret = secret
    user.totp_last_step = step  # the confirming code cannot be used again to sign in
    codes = _issue_recovery_codes(user)
    audit.record("auth.totp_enable", user, actor=user, recovery_codes=len(codes))
    return codes


def disable(user: User) -> None:
    """Switch the second factor off and forget its secret and recovery codes (the caller checked a code)."""
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record("auth.totp_disable", user, actor=user)


def verify(user: User, code: str, *, now: datetime | None = None) -> None:
    """Accept a TOTP code newer than the last one accepted, or an unused recovery code; else refuse."""
    if user.totp_secret is None:
        raise SecondFactorRefused(_("Verifikasi dua langkah tidak aktif."))
    code = _compact(code)
    if len(code) == _TOTP_DIGITS and code.isdigit():
        step = _matching_step(user.totp_secret, code, after=user.totp_last_step, now=now)
        # Conditional, so two requests racing with the same code cannot both pass.
        accepted = _changed(db.session.execute(
            update(User)
            .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step)
        ))
        if accepted != 1:
            raise SecondFactorRefused(_("Kode sudah dipakai. Tunggu kode berikutnya."))
        return
    spent = _changed(db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_sha256 == _digest(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    ))
    if spent != 1:
        raise SecondFactorRefused(_("Kode verifikasi salah."))
    audit.record("auth.recovery_code_used", user, actor=user, remaining=remaining_recovery_codes(user))


def remaining_recovery_codes(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0


def _matching_step(secret: str, code: str, *, after: int | None, now: datetime | None) -> int:
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now or utcnow())
    matched = [step for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1)
               if hmac.compare_digest(totp.generate_otp(step), code)]
    if not matched:
        raise SecondFactorRefused(_("Kode verifikasi salah."))
    if after is not None and max(matched) <= after:
        raise SecondFactorRefused(_("Kode sudah dipakai. Tunggu kode berikutnya."))
    return max(matched)


def _issue_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _count in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    db.session.add_all(RecoveryCode(user_id=user.id, code_sha256=_digest(code)) for code in codes)
    return codes


def _compact(code: str) -> str:
    # People type codes with spaces ("123 456") or copy recovery codes with their dashes.
    return "".join(code.split())


def _digest(recovery_code: str) -> str:
    return hashlib.sha256(recovery_code.replace("-", "").lower().encode()).hexdigest()


def _changed(result: Result[Any]) -> int:
    """Return how many rows an UPDATE changed."""
    # Session.execute is typed as returning Result, but for an UPDATE it is always a CursorResult.
    return cast(CursorResult[Any], result).rowcount
