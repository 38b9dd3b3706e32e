"""A hosting request (Permohonan) and the documents attached to it."""
from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.models.base import Model, created_at, intpk, sha256_hex, timestamp


class RequestStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    NEEDS_CORRECTION = "needs_correction"
    REJECTED = "rejected"
    DEPLOYED = "deployed"  # the app runs with its Web Panel login; the SOP's reports remain
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"  # the OPD took it back before deployment


# A request still on its way: it holds its subdomain and the OPD may withdraw it.
OPEN_STATUSES = frozenset({RequestStatus.SUBMITTED, RequestStatus.IN_PROGRESS,
                           RequestStatus.NEEDS_CORRECTION})


class AttachmentKind(enum.StrEnum):
    REQUEST_LETTER = "surat_permohonan"
    RECOMMENDATION = "rekomendasi_tim_teknis"
    APPOINTMENT_LETTER = "surat_penunjukan_pengelola"
    INSTALL_GUIDE = "petunjuk_instalasi"
    SCAN_REPORT = "laporan_pemindaian"
    HOSTING_REPORT = "surat_laporan_hosting"
    RESPONSE_LETTER = "surat_tanggapan"


class HostingRequest(Model):
    __tablename__ = "hosting_requests"
    # A submission key is the submitter's own: another user's identical key files its own request.
    __table_args__ = (UniqueConstraint("year", "seq"), UniqueConstraint("submitted_by_id", "submission_key"))
    id: Mapped[intpk]
    number: Mapped[str | None] = mapped_column(String(64), unique=True)  # e.g. 001/HOST/DISKOMINFO/2026
    year: Mapped[int | None]
    seq: Mapped[int | None]
    opd_id: Mapped[int] = mapped_column(ForeignKey("opds.id"), index=True)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    app_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    subdomain: Mapped[str] = mapped_column(String(63))
    stack: Mapped[str] = mapped_column(String(16))
    needs_database: Mapped[bool] = mapped_column(default=False)
    contact: Mapped[str] = mapped_column(String(200), default="")
    template_version_id: Mapped[int] = mapped_column(ForeignKey("sop_template_versions.id"))
    current_step: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[RequestStatus] = mapped_column(String(24), default=RequestStatus.DRAFT)
    artifact_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"))
    submission_key: Mapped[str | None] = mapped_column(String(64))  # double-submit guard, per submitter
    submission_digest: Mapped[str | None] = mapped_column(String(64))  # what that key filed
    created_at: Mapped[created_at]
    submitted_at: Mapped[timestamp]

    opd = relationship("Opd")
    submitted_by = relationship("User")
    template_version = relationship("SopTemplateVersion")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="request")
    steps = relationship("RequestStep", order_by="RequestStep.id")
    dispositions = relationship("Disposition", order_by="Disposition.id")


class Attachment(Model):
    __tablename__ = "attachments"
    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("hosting_requests.id"), index=True)
    kind: Mapped[AttachmentKind] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[sha256_hex]
    size: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(100))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: made by Wadah
    uploaded_at: Mapped[created_at]

    request: Mapped[HostingRequest] = relationship(back_populates="attachments")
