"""Who uses Wadah: agencies (OPD), users with roles, and per-app Web Panel accounts."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import Column, DateTime, ForeignKey, String, Table, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.crypto import EncryptedText
from panel.extensions import db
from panel.models.base import Model, created_at, intpk, sha256_hex, timestamp

if TYPE_CHECKING:
    # For the annotation only: SQLAlchemy resolves "App" through its registry at mapping time.
    from panel.models.infra import App


class RoleKey(enum.StrEnum):
    OPD_ADMIN = "opd_admin"
    APP_ACCOUNT = "app_account"
    TECHNICIAN = "technician"
    COORDINATOR = "coordinator"
    HEAD = "head"
    AUDITOR = "auditor"
    SUPERADMIN = "superadmin"


# Labels are data: a Pemda renames them in the admin UI; the keys never change.
DEFAULT_ROLE_LABELS = {
    RoleKey.OPD_ADMIN: "Pengelola Aplikasi OPD",
    RoleKey.APP_ACCOUNT: "Akun Web Panel Aplikasi",
    RoleKey.TECHNICIAN: "Pengelola Instalasi Teknologi Informasi",
    RoleKey.COORDINATOR: "Sub Koordinator Pengembangan dan Pengelolaan Aplikasi",
    RoleKey.HEAD: "Kepala Bidang / Kepala Dinas",
    RoleKey.AUDITOR: "Auditor",
    RoleKey.SUPERADMIN: "Administrator Platform",
}

user_roles = Table(
    "user_roles",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Opd(Model):
    """An agency (Organisasi Perangkat Daerah) whose applications the data center hosts."""

    __tablename__ = "opds"
    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # A disabled agency files no new request and gets no new user; what it has keeps running.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[created_at]

    users: Mapped[list[User]] = relationship(back_populates="opd")


class Role(Model):
    __tablename__ = "roles"
    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(32), unique=True)
    label: Mapped[str] = mapped_column(String(120))


class User(UserMixin, Model):
    __tablename__ = "users"
    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))  # where notices are sent
    # Nomor Induk Pegawai of a civil servant: 18 digits, one person's for life, so never shared.
    nip: Mapped[str | None] = mapped_column(String(18), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    opd_id: Mapped[int | None] = mapped_column(ForeignKey("opds.id"))
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Part of every session's identity (`get_id`): raising it ends every session signed in before,
    # on the server, even a cookie someone copied (sign-out, password and second-factor changes).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    last_login_at: Mapped[timestamp]
    created_at: Mapped[created_at]
    # Second factor (TOTP): set only once the user has confirmed a code; the last accepted time step
    # refuses a code seen before, even inside its validity window.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText)
    totp_last_step: Mapped[int | None]
    # The UI language this user chose ("id" or "en"); None follows the panel's default.
    locale: Mapped[str | None] = mapped_column(String(8))

    opd: Mapped[Opd | None] = relationship(back_populates="users")
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")
    app_account: Mapped[AppAccount | None] = relationship(
        back_populates="user", foreign_keys="AppAccount.user_id", lazy="selectin"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """Return what the session keeps to find this user again: the id and the session epoch."""
        return f"{self.id}:{self.session_epoch}"

    @property
    def role_keys(self) -> frozenset[str]:
        return frozenset(role.key for role in self.roles)

    def has_role(self, *keys: str) -> bool:
        return not self.role_keys.isdisjoint(keys)

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None


class RecoveryCode(Model):
    """A one-time code that stands in for the authenticator app; only its SHA-256 digest is kept.

    One row per code, not a JSON list on the user: spending a code is a single conditional UPDATE
    (`used_at IS NULL`), so two requests racing with the same code cannot both succeed.
    """

    __tablename__ = "recovery_codes"
    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_sha256: Mapped[sha256_hex]
    created_at: Mapped[created_at]
    used_at: Mapped[timestamp]


class AppAccount(Model):
    """The Web Panel login issued at deployment: a user who may manage exactly one app."""

    __tablename__ = "app_accounts"
    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), unique=True)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[created_at]

    user: Mapped[User] = relationship(foreign_keys=[user_id], back_populates="app_account")
    app: Mapped[App] = relationship(back_populates="account")


class ApiToken(Model):
    """A personal API token: the holder acts through /api/v1 with its owner's roles.

    Only a SHA-256 digest of the secret is kept (the secret is random, so no slow hash is needed);
    the public prefix finds the row without scanning.
    """

    __tablename__ = "api_tokens"
    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_at]
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # every token ends
    last_used_at: Mapped[timestamp]
    revoked_at: Mapped[timestamp]

    user: Mapped[User] = relationship()


class LoginThrottle(Model):
    """Recent failed sign-ins of one account from one address, of one address, or of one account.

    A row with both `account` and `address` counts one client's guesses at one account; an empty
    `address` counts the guesses at the account from anywhere, an empty `account` those from the
    address at any account. `account` is the name as typed, so an unknown name is throttled exactly
    like a real one.
    """

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("account", "address"),)
    id: Mapped[intpk]
    account: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    blocked_until: Mapped[timestamp]
