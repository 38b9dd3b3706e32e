"""An app's Web Panel login handed to a new manager: a new password, maybe a new username, old sessions ended.

Flask-free; the caller commits. The password is returned once and kept only as a hash.
"""
from __future__ import annotations

import re

from sqlalchemy import select

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import App, AppAccount, User
from panel.services.accounts import accounts, api_tokens, passwords
from panel.services.apps.app_operations import OperationRefused, expect_managed

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")


def check_username(username: str) -> str:
    """Return `username` if a Web Panel login may take it, else raise OperationRefused."""
    if not USERNAME.fullmatch(username):
        raise OperationRefused(_("Nama pengguna harus 3–64 karakter: huruf kecil, angka, titik, garis "
                                 "bawah atau tanda hubung, diawali huruf atau angka."))
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise OperationRefused(_("Nama pengguna %(username)s sudah dipakai.", username=username))
    return username


def hand_over(app: App, technician: User, min_length: int,
              username: str | None = None) -> tuple[AppAccount, str]:
    """Give the app's Web Panel login a new password (and username, if given) for a new manager.

    Every session and API token of the login ends, its second factor is cleared (it was the old
    manager's device), and the new manager must choose a password at first sign-in.
    """
    expect_managed(app)
    account: AppAccount | None = app.account
    if account is None:
        raise OperationRefused(_("Login Web Panel aplikasi ini belum diterbitkan."))
    login = account.user
    previous = login.username
    if username and username != previous:
        login.username = check_username(username)
    password = passwords.generate_password(max(16, min_length))
    login.password_hash = passwords.hash_password(password)
    login.must_change_password = True
    login.totp_secret, login.totp_last_step = None, None
    accounts.end_sessions(login)
    revoked = api_tokens.revoke_all(login, by=technician, reason="handover")
    audit.record("app.login_handover", app, actor=technician, username=login.username,
                 previous_username=previous, revoked=revoked)
    return account, password
