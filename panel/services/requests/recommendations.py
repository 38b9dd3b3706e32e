"""SOP 002's Rekomendasi Tim Teknis named by a hosting request instead of an uploaded letter.

The reference becomes an attachment of the hosting request holding the same stored PDF (attachments
are kept by sha256), so kelengkapan, downloads and letters treat it like an upload.
"""
from __future__ import annotations

from sqlalchemy import select

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Attachment, AttachmentKind, HostingRequest, Opd, RequestStatus, User
from panel.services.refused import Refused
from panel.services.requests import sop

SUFFIX = "/REK"


class ReferenceRefused(Refused):
    """The named Rekomendasi cannot be used for this request; the message says why."""


def find(number: str, opd: Opd) -> Attachment:
    """Return the Rekomendasi letter of the finished SOP 002 request `number` of `opd`, or refuse."""
    wanted = number.strip().removesuffix(SUFFIX)
    source = (db.session.scalar(select(HostingRequest).where(HostingRequest.number == wanted))
              if wanted else None)
    if source is None or sop.parse(source.template_version.definition).kind != sop.TemplateKind.DEVELOPMENT:
        raise ReferenceRefused(_("Rekomendasi %(number)s tidak ditemukan: sebutkan nomor permohonan "
                                 "pengembangan aplikasi (SOP 002).", number=repr(number.strip())))
    if source.opd_id != opd.id:
        raise ReferenceRefused(_("Rekomendasi %(number)s diterbitkan untuk OPD lain.", number=repr(wanted)))
    if source.status != RequestStatus.CLOSED:
        raise ReferenceRefused(_("Pengembangan aplikasi %(number)s belum selesai.", number=repr(wanted)))
    letter = next((a for a in reversed(source.attachments) if a.kind == AttachmentKind.RECOMMENDATION), None)
    if letter is None:
        raise ReferenceRefused(_("Pengembangan aplikasi %(number)s tidak memiliki surat rekomendasi.",
                                 number=repr(wanted)))
    return letter


def attach(request: HostingRequest, letter: Attachment, user: User) -> Attachment:
    """Attach the found Rekomendasi `letter` to the hosting request as its rekomendasi_tim_teknis."""
    copy = Attachment(kind=AttachmentKind.RECOMMENDATION, filename=letter.filename, sha256=letter.sha256,
                      size=letter.size, content_type=letter.content_type, uploaded_by_id=user.id)
    request.attachments.append(copy)
    db.session.flush()
    audit.record("request.recommendation", request, actor=user, source=letter.request_id)
    return copy


def source_of(attachment: Attachment) -> HostingRequest | None:
    """Return the SOP 002 request whose Rekomendasi `attachment` is, when it was attached by reference."""
    if attachment.kind != AttachmentKind.RECOMMENDATION:
        return None
    return db.session.scalar(
        select(HostingRequest).join(Attachment, Attachment.request_id == HostingRequest.id)
        .where(Attachment.kind == AttachmentKind.RECOMMENDATION, Attachment.sha256 == attachment.sha256,
               Attachment.request_id != attachment.request_id, Attachment.id < attachment.id)
        .order_by(Attachment.id).limit(1))
