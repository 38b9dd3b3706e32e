"""The demo Pemda that `wadah up` seeds: Kabupaten Contoh, a few OPDs, one user per role."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Opd, RoleKey, User
from panel.services.accounts import accounts, passwords
from panel.services.refused import Refused

DEMO_OPDS = [
    ("DISKOMINFO", "Dinas Komunikasi dan Informatika"),
    ("DINKES", "Dinas Kesehatan"),
    ("DISDIK", "Dinas Pendidikan"),
    ("BAPPEDA", "Badan Perencanaan Pembangunan Daerah"),
]

# (username, full name, role, OPD code or None)
DEMO_USERS = [
    ("admin", "Administrator Platform", RoleKey.SUPERADMIN, "DISKOMINFO"),
    ("kabid", "Kepala Bidang Penyelenggaraan E-Government", RoleKey.HEAD, "DISKOMINFO"),
    ("subkoor", "Sub Koordinator Pengembangan dan Pengelolaan Aplikasi", RoleKey.COORDINATOR, "DISKOMINFO"),
    ("teknisi", "Pengelola Instalasi Teknologi Informasi", RoleKey.TECHNICIAN, "DISKOMINFO"),
    ("auditor", "Auditor Inspektorat", RoleKey.AUDITOR, None),
    ("opd.dinkes", "Pengelola Aplikasi Dinas Kesehatan", RoleKey.OPD_ADMIN, "DINKES"),
    ("opd.disdik", "Pengelola Aplikasi Dinas Pendidikan", RoleKey.OPD_ADMIN, "DISDIK"),
]


class DemoRefused(Refused):
    """The demo Pemda is not seeded here."""


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str | None  # None: the user existed already; its password is not known here


def seed(*, production: bool) -> list[DemoLogin]:
    """Create the demo OPDs and users that are missing; return each login; never on a production instance."""
    # Demo users with known roles and printed passwords must never appear beside real ones.
    if production:
        raise DemoRefused(_("Instans ini ditandai produksi (PRODUCTION = true): data contoh tidak dibuat. "
                            "Buat pengguna dengan `wadah user add`."))
    accounts.ensure_roles()
    opds = {opd.code: opd for opd in db.session.scalars(select(Opd))}
    for code, name in DEMO_OPDS:
        if code not in opds:
            opds[code] = Opd(code=code, name=name)
            db.session.add(opds[code])
    logins = []
    for username, full_name, role, opd_code in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)):
            logins.append(DemoLogin(username, role, None))
            continue
        password = passwords.generate_password()
        accounts.create_user(username, password, [role], full_name=full_name,
                             opd=opds[opd_code] if opd_code else None)
        logins.append(DemoLogin(username, role, password))
    return logins
