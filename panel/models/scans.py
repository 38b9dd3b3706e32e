"""Uploaded bundles, stored by content, and the scanner's verdicts on them."""
from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.models.base import Model, created_at, intpk, timestamp


class Verdict(enum.StrEnum):
    CLEAN = "clean"
    REVIEW = "review"
    INFECTED = "infected"
    REJECTED = "rejected"
    ERROR = "error"


class ScanKind(enum.StrEnum):
    BUNDLE = "bundle"  # the app bundle as uploaded
    BUILD = "build"  # the files a Dockerfile app's build added to its runtime image


class Artifact(Model):
    """An app bundle in content-addressed storage; its sha256 is its identity."""

    __tablename__ = "artifacts"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]

    scans: Mapped[list[ScanReport]] = relationship(back_populates="artifact")


class ScanReport(Model):
    """A verdict on a bundle, or on what a build made of it (`kind` build: its release names it)."""

    __tablename__ = "scan_reports"
    id: Mapped[intpk]
    artifact_sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"), index=True)
    kind: Mapped[ScanKind] = mapped_column(String(16), default=ScanKind.BUNDLE,
                                           server_default=ScanKind.BUNDLE.value)
    verdict: Mapped[Verdict | None] = mapped_column(String(16))
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    html_sha256: Mapped[str | None] = mapped_column(String(64))  # readable report, in the document store
    started_at: Mapped[created_at]
    finished_at: Mapped[timestamp]
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_reason: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[timestamp]

    artifact: Mapped[Artifact] = relationship(back_populates="scans")

    @property
    def deployable(self) -> bool:
        """Whether a release may be built from this verdict: clean, or review accepted by a person."""
        return self.verdict == Verdict.CLEAN or (
            self.verdict == Verdict.REVIEW and self.accepted_by_id is not None
        )
