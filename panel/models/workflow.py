"""A request's journey through its SOP: the pinned template, each step's timing and dispositions."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.models.base import Model, created_at, intpk, timestamp


class SopTemplateVersion(Model):
    """An edit of an SOP template; a request keeps the version it started with."""

    __tablename__ = "sop_template_versions"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]


class RequestStep(Model):
    """One step of one request: who acted, when it started and finished, against its Mutu Baku."""

    __tablename__ = "request_steps"
    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("hosting_requests.id"), index=True)
    step_key: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(32), index=True)
    due_minutes: Mapped[int | None]
    due_at: Mapped[timestamp]  # the Mutu Baku deadline in working time, fixed when the step opens
    started_at: Mapped[created_at]
    finished_at: Mapped[timestamp]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    overdue_notified_at: Mapped[timestamp]

    actor = relationship("User")

    def elapsed_minutes(self, now: datetime) -> float:
        end = self.finished_at or now
        start = self.started_at
        if start.tzinfo is None and end.tzinfo is not None:  # SQLite returns naive datetimes
            end = end.replace(tzinfo=None)
        return (end - start).total_seconds() / 60


class Disposition(Model):
    """A written instruction passing a request down the chain (Kadis → Kabid → Kasie → technician)."""

    __tablename__ = "dispositions"
    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("hosting_requests.id"), index=True)
    from_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    to_role: Mapped[str] = mapped_column(String(32))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[created_at]

    from_user = relationship("User", foreign_keys=[from_user_id])


class Comment(Model):
    """A message in a request's coordination thread between Diskominfo and the OPD."""

    __tablename__ = "comments"
    id: Mapped[intpk]
    request_id: Mapped[int] = mapped_column(ForeignKey("hosting_requests.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created_at]

    author = relationship("User")
