"""What an app's Web Panel keeps: new versions uploaded, environment variables, resource samples."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.crypto import EncryptedText
from panel.models.base import Model, created_at, intpk, timestamp, utcnow


class UploadStatus(enum.StrEnum):
    SCANNING = "scanning"
    REVIEW = "review"  # waits for a technician's written acceptance
    BLOCKED = "blocked"  # infected, rejected, or withdrawn: never deployed
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    FAILED = "failed"


class AppUpload(Model):
    """A new version of an app sent through its Web Panel, from upload to scan verdict to release."""

    __tablename__ = "app_uploads"
    id: Mapped[intpk]
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), index=True)
    artifact_sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[UploadStatus] = mapped_column(String(16), default=UploadStatus.SCANNING, index=True)
    scan_report_id: Mapped[int | None] = mapped_column(ForeignKey("scan_reports.id"))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id"))
    reason: Mapped[str | None] = mapped_column(Text)  # why it is blocked or failed, for its owner
    created_at: Mapped[created_at]
    finished_at: Mapped[timestamp]

    app = relationship("App")
    artifact = relationship("Artifact")
    uploaded_by = relationship("User")
    scan_report = relationship("ScanReport")
    release = relationship("Release")


class AppEnvVar(Model):
    """One environment variable of an app, its value encrypted at rest.

    A change waits in the panel until it is applied (`applied_at` older than `updated_at`); a removal
    is kept as `removed` until then, so the page can say what the app does not run with yet.
    """

    __tablename__ = "app_env_vars"
    __table_args__ = (UniqueConstraint("app_id", "name"),)
    id: Mapped[intpk]
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(EncryptedText)
    removed: Mapped[bool] = mapped_column(default=False)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    applied_at: Mapped[timestamp]


class AppMetric(Model):
    """One sample of an app container's resource use, taken by the worker every few minutes."""

    __tablename__ = "app_metrics"
    __table_args__ = (Index("ix_app_metrics_app_id_at", "app_id", "at"),)
    id: Mapped[intpk]
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    cpu_percent: Mapped[float]
    memory_bytes: Mapped[int] = mapped_column(BigInteger)
    memory_limit_bytes: Mapped[int] = mapped_column(BigInteger)
    pids: Mapped[int] = mapped_column(default=0)
