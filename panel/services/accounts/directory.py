"""The directory of users and agencies (OPD) the platform administrator keeps, from the pages or the CLI.

Adding, editing and disabling users and OPDs, and the administrator's resets (password, sign-in
throttle, second factor). Every rule lives here once; `by` is the acting user, or None for the
command line (whose events `audit.acting_as` names).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import LoginThrottle, Opd, RecoveryCode, Role, RoleKey, User, user_roles
from panel.services.accounts import accounts, api_tokens, passwords
from panel.services.refused import Refused

# Lower-case letters, digits, dot, dash and underscore, starting and ending with a letter or digit.
USERNAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
OPD_CODE = re.compile(r"[A-Z0-9](?:[A-Z0-9._-]{0,30}[A-Z0-9])?")
# One @, no spaces, a dotted domain: enough to catch typing mistakes; delivery proves the rest.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL = re.compile(rf"[^@\s]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")
NIP_LENGTH = 18
# The app's Web Panel login is issued with the app at deployment (deployment.issue_web_panel_login).
ASSIGNABLE_ROLES = tuple(role for role in RoleKey if role is not RoleKey.APP_ACCOUNT)
# Roles whose holders act for one agency, so they must belong to one.
OPD_BOUND_ROLES = frozenset({RoleKey.OPD_ADMIN})


class DirectoryRefused(Refused):
    """The directory change was not made; the message says why."""


@dataclass(frozen=True)
class Profile:
    """What the administrator sets on a user: roles, agency, name and contact."""

    roles: tuple[str, ...]
    opd_code: str | None = None
    full_name: str = ""
    email: str | None = None
    nip: str | None = None


@dataclass(frozen=True)
class Checked:
    roles: list[RoleKey]
    opd: Opd | None
    full_name: str
    email: str | None
    nip: str | None


# --- OPD ----------------------------------------------------------------------------------------


def add_opd(code: str, name: str, *, by: User | None) -> Opd:
    """Register an agency under a new code."""
    code, name = code.strip().upper(), _clean_name(name)
    if not OPD_CODE.fullmatch(code):
        raise DirectoryRefused(_("Kode OPD %(code)s tidak sah: huruf besar, angka, titik, tanda hubung atau "
                                 "garis bawah, paling banyak 32 karakter.", code=repr(code)))
    if db.session.scalar(select(Opd).where(func.upper(Opd.code) == code)):
        raise DirectoryRefused(_("Kode OPD %(code)s sudah terdaftar.", code=code))
    opd = Opd(code=code, name=name)
    db.session.add(opd)
    db.session.flush()
    audit.record("opd.create", opd, actor=by, code=code, name=name)
    return opd


def rename_opd(opd: Opd, name: str, *, by: User | None) -> None:
    """Change an agency's name; its code, which users and requests refer to, stays."""
    name = _clean_name(name)
    if name == opd.name:
        return
    audit.record("opd.rename", opd, actor=by, before=opd.name, after=name)
    opd.name = name


def disable_opd(opd: Opd, *, by: User | None) -> None:
    """Stop an agency filing requests and receiving users; its users, requests and apps stay as they are."""
    if not opd.active:
        raise DirectoryRefused(_("OPD %(code)s sudah dinonaktifkan.", code=opd.code))
    opd.active = False
    audit.record("opd.deactivate", opd, actor=by, code=opd.code)


def enable_opd(opd: Opd, *, by: User | None) -> None:
    """Let a disabled agency file requests and receive users again."""
    if opd.active:
        raise DirectoryRefused(_("OPD %(code)s sudah aktif.", code=opd.code))
    opd.active = True
    audit.record("opd.activate", opd, actor=by, code=opd.code)


def opd_by_code(code: str) -> Opd:
    """Return the agency with `code`, or refuse naming the unknown code."""
    found = db.session.scalar(select(Opd).where(func.upper(Opd.code) == code.strip().upper()))
    if found is None:
        raise DirectoryRefused(_("OPD %(code)s tidak dikenal.", code=repr(code)))
    return found


def opd_rows() -> list[tuple[Opd, int]]:
    """Return every agency with how many active users belong to it, by code."""
    counts = {opd_id: count for opd_id, count in db.session.execute(
        select(User.opd_id, func.count()).where(User.active).group_by(User.opd_id))}
    return [(opd, counts.get(opd.id, 0)) for opd in db.session.scalars(select(Opd).order_by(Opd.code))]


# --- users --------------------------------------------------------------------------------------


def users() -> list[User]:
    """Return every user but the apps' Web Panel logins, active ones first, by name."""
    return list(db.session.scalars(
        select(User).where(~User.app_account.has()).order_by(User.active.desc(), User.username)))


def user_by_name(username: str) -> User:
    """Return the user called `username`, or refuse naming the unknown name."""
    found = db.session.scalar(select(User).where(User.username == username.strip()))
    if found is None:
        raise DirectoryRefused(_("Pengguna %(username)s tidak dikenal.", username=repr(username)))
    return found


def add_user(username: str, profile: Profile, *, by: User | None, min_length: int,
             password: str | None = None) -> tuple[User, str | None]:
    """Create a user; return it and the one-time password generated when none was given.

    A generated password must be changed at the first sign-in; one given (typed by its owner on the
    command line) need not.
    """
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise DirectoryRefused(_("Nama pengguna %(username)s tidak sah: huruf kecil, angka, titik, tanda "
                                 "hubung atau garis bawah, 1–64 karakter.", username=repr(username)))
    checked = _check(profile, user=None)
    generated = None if password is not None else passwords.generate_password(max(16, min_length))
    try:
        user = accounts.create_user(username, password or generated or "", checked.roles,
                                    full_name=checked.full_name, email=checked.email, opd=checked.opd,
                                    min_length=min_length, must_change_password=generated is not None)
    except (accounts.AccountError, passwords.WeakPassword) as refused:
        raise DirectoryRefused(str(refused)) from None
    user.nip = checked.nip
    audit.record("user.profile", user, actor=by, **_described(user))
    return user, generated


def edit_user(user: User, profile: Profile, *, by: User | None) -> bool:
    """Change a user's roles, agency, name, e-mail and NIP; return whether anything changed."""
    _not_an_app_login(user)
    checked = _check(profile, user=user)
    if (user.has_role(RoleKey.SUPERADMIN) and RoleKey.SUPERADMIN not in checked.roles):
        if by is not None and by.id == user.id:
            raise DirectoryRefused(_("Anda tidak dapat mencabut peran Administrator Platform Anda sendiri."))
        _keep_a_superadmin(user)
    before = _described(user)
    by_key = accounts.ensure_roles()
    user.roles = [by_key[key] for key in checked.roles]
    user.opd, user.full_name, user.email, user.nip = (checked.opd, checked.full_name, checked.email,
                                                      checked.nip)
    after = _described(user)
    changed = {name: {"before": before[name], "after": value} for name, value in after.items()
               if before[name] != value}
    if not changed:
        return False
    if "roles" in changed:  # a session holds what its roles allowed: it starts again under the new ones
        accounts.end_sessions(user)
    audit.record("user.edit", user, actor=by, changes=changed)
    return True


def disable_user(user: User, *, by: User | None) -> None:
    """Disable a user (no sign-in, sessions ended, tokens revoked); never oneself or the last superadmin."""
    if not user.active:
        raise DirectoryRefused(_("Pengguna %(username)s sudah dinonaktifkan.", username=user.username))
    if by is not None and by.id == user.id:
        raise DirectoryRefused(_("Anda tidak dapat menonaktifkan akun Anda sendiri."))
    if user.has_role(RoleKey.SUPERADMIN):
        _keep_a_superadmin(user)
    accounts.deactivate(user, by=by)


def enable_user(user: User, *, by: User | None) -> None:
    """Let a disabled user sign in again."""
    _not_an_app_login(user)
    if user.active:
        raise DirectoryRefused(_("Pengguna %(username)s sudah aktif.", username=user.username))
    user.active = True
    audit.record("user.activate", user, actor=by)


def reset_password(user: User, *, by: User | None, min_length: int,
                   password: str | None = None) -> str | None:
    """Give `user` a new password; return the one-time password generated when none was given.

    Every session ends and every API token is revoked: whoever knew the old password keeps nothing.
    A generated password must be changed at the next sign-in.
    """
    generated = None if password is not None else passwords.generate_password(max(16, min_length))
    new = password or generated or ""
    try:
        passwords.check_policy(new, min_length, user.username)
    except passwords.WeakPassword as refused:
        raise DirectoryRefused(str(refused)) from None
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = generated is not None
    accounts.end_sessions(user)
    revoked = api_tokens.revoke_all(user, by=by, reason="password_reset")
    audit.record("user.password_reset", user, actor=by, one_time=generated is not None,
                 revoked=revoked)
    return generated


def throttles(user: User) -> list[LoginThrottle]:
    """Return the failed sign-ins counted against `user`'s name, per address, newest first."""
    return list(db.session.scalars(select(LoginThrottle).where(LoginThrottle.account == user.username[:64])
                                   .order_by(LoginThrottle.last_failure_at.desc())))


def unlock(user: User, *, by: User | None) -> int:
    """Forget the failed sign-ins counted against `user`'s name, from every address; return the rows."""
    result = db.session.execute(delete(LoginThrottle).where(LoginThrottle.account == user.username[:64]))
    # Session.execute is typed as returning Result; for a DELETE it is always a CursorResult.
    cleared = cast(CursorResult[Any], result).rowcount
    audit.record("user.unlock", user, actor=by, buckets=cleared)
    return int(cleared)


def reset_second_factor(user: User, *, by: User | None) -> None:
    """Switch off `user`'s second factor (a lost phone); a role that needs one enrols again at sign-in."""
    if not user.totp_enabled:
        raise DirectoryRefused(_("Pengguna %(username)s tidak memakai verifikasi dua langkah.",
                                 username=user.username))
    user.totp_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    accounts.end_sessions(user)
    audit.record("user.totp_reset", user, actor=by)


# --- checks -------------------------------------------------------------------------------------


def check_email(text: str | None) -> str | None:
    """Return the e-mail address trimmed (None when empty), or refuse one that cannot be an address."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > 254 or not EMAIL.fullmatch(text):
        raise DirectoryRefused(_("Alamat surel %(email)s tidak sah.", email=repr(text)))
    return text


def check_nip(text: str | None) -> str | None:
    """Return the NIP without spaces (None when empty), or refuse one that is not a civil servant's NIP.

    18 digits: date of birth (YYYYMMDD), month of appointment (YYYYMM), sex (1 or 2), sequence (3).
    """
    digits = "".join((text or "").split())
    if not digits:
        return None
    if len(digits) != NIP_LENGTH or not digits.isascii() or not digits.isdigit():
        raise DirectoryRefused(_("NIP harus 18 angka."))
    try:
        born = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
        appointed = date(int(digits[8:12]), int(digits[12:14]), 1)
    except ValueError:
        raise DirectoryRefused(_("NIP %(nip)s tidak sah: tanggal lahir atau TMT tidak ada.",
                                 nip=digits)) from None
    if digits[14] not in "12" or appointed <= born:
        raise DirectoryRefused(_("NIP %(nip)s tidak sah.", nip=digits))
    return digits


def _check(profile: Profile, *, user: User | None) -> Checked:
    roles: list[RoleKey] = []
    for key in profile.roles:
        if key not in {role.value for role in ASSIGNABLE_ROLES}:
            raise DirectoryRefused(_("Peran %(role)s tidak dikenal.", role=repr(key)))
        if RoleKey(key) not in roles:
            roles.append(RoleKey(key))
    if not roles:
        raise DirectoryRefused(_("Pilih sedikitnya satu peran."))
    code = (profile.opd_code or "").strip()
    opd = opd_by_code(code) if code else None
    if opd is not None and not opd.active and (user is None or user.opd_id != opd.id):
        raise DirectoryRefused(_("OPD %(code)s nonaktif: tidak menerima pengguna baru.", code=opd.code))
    if opd is None and OPD_BOUND_ROLES.intersection(roles):
        raise DirectoryRefused(_("Pengelola Aplikasi OPD harus terikat pada satu OPD."))
    nip = check_nip(profile.nip)
    if nip is not None:
        holder = db.session.scalar(select(User).where(User.nip == nip))
        if holder is not None and holder is not user:
            raise DirectoryRefused(_("NIP %(nip)s sudah dipakai pengguna %(username)s.", nip=nip,
                                     username=holder.username))
    full_name = " ".join(profile.full_name.split())
    if len(full_name) > 200:
        raise DirectoryRefused(_("Nama lengkap paling banyak 200 karakter."))
    return Checked(roles=roles, opd=opd, full_name=full_name, email=check_email(profile.email), nip=nip)


def _keep_a_superadmin(leaving: User) -> None:
    # Somebody must remain who can manage users; the CLI could recover, but only with shell access.
    others = db.session.scalar(
        select(func.count()).select_from(User)
        .join(user_roles, user_roles.c.user_id == User.id).join(Role, Role.id == user_roles.c.role_id)
        .where(Role.key == RoleKey.SUPERADMIN, User.active, User.id != leaving.id)) or 0
    if others == 0:
        raise DirectoryRefused(_("%(username)s adalah Administrator Platform aktif terakhir; tambahkan "
                                 "administrator lain terlebih dahulu.", username=leaving.username))


def _not_an_app_login(user: User) -> None:
    if user.app_account is not None:
        raise DirectoryRefused(_("Login Web Panel aplikasi dikelola bersama aplikasinya."))


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise DirectoryRefused(_("Nama OPD wajib diisi."))
    if len(name) > 200:
        raise DirectoryRefused(_("Nama OPD paling banyak 200 karakter."))
    return name


def _described(user: User) -> dict[str, object]:
    # What the audit trail keeps of a profile: no secret, nothing that changes on every sign-in.
    return {"roles": sorted(user.role_keys), "opd": user.opd.code if user.opd else None,
            "full_name": user.full_name, "email": user.email, "nip": user.nip}
