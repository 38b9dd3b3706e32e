"""Apps hosted before Wadah, recorded so the inventory and reports count every app of the Pemda.

Flask-free; the caller commits. An external app has status `external`: no agent is ever asked about
it and no zone is updated for it; its name still keeps a new request from taking its address.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import or_, select

from agents import protocol
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import App, Opd, Stack, User
from panel.services.apps import app_lifecycle
from panel.services.apps.app_operations import OperationRefused

SERVER_MAX_CHARS = 200
URL_MAX_CHARS = 255


@dataclass(frozen=True)
class ExternalApp:
    """What a technician records of an app hosted before Wadah."""

    name: str
    url: str
    opd_id: int
    server: str
    stack: str


def record(entry: ExternalApp, technician: User) -> App:
    """Record an app hosted before Wadah as an external app, after checking what was entered."""
    try:
        name = protocol.app_name(entry.name.strip())
    except protocol.InvalidName:
        raise OperationRefused(_("Nama aplikasi harus 2–40 karakter huruf kecil, angka dan tanda hubung "
                                 "(misalnya sipd-lama).")) from None
    url = entry.url.strip()
    parts = urlsplit(url if "//" in url else f"http://{url}")
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("http", "https") or "." not in host or len(url) > URL_MAX_CHARS:
        raise OperationRefused(_("Alamat harus URL http(s) dengan nama domain, misalnya "
                                 "https://sipd.muaraenimkab.go.id/."))
    subdomain, zone = host.split(".", 1)
    try:
        protocol.label(subdomain)
    except protocol.InvalidName:
        raise OperationRefused(_("Nama %(host)s bukan nama DNS yang sah.", host=host)) from None
    if entry.stack not in set(Stack):
        raise OperationRefused(_("Jenis aplikasi tidak dikenal: %(stack)s", stack=entry.stack))
    server = entry.server.strip()
    if not server or len(server) > SERVER_MAX_CHARS:
        raise OperationRefused(_("Server wajib diisi, paling panjang %(count)d karakter.",
                                 count=SERVER_MAX_CHARS))
    if db.session.get(Opd, entry.opd_id) is None:
        raise OperationRefused(_("OPD tidak dikenal."))
    taken = db.session.scalar(select(App.id).where(or_(App.name == name,
                                                       (App.subdomain == subdomain) & (App.zone == zone))))
    if taken is not None:
        raise OperationRefused(_("Nama %(name)s atau alamat %(host)s sudah tercatat di Wadah.",
                                 name=name, host=host))
    return app_lifecycle.new_external(
        technician, name=name, subdomain=subdomain, zone=zone, opd_id=entry.opd_id, stack=Stack(entry.stack),
        external_url=f"{parts.scheme}://{host}{parts.path or '/'}", external_server=server)
