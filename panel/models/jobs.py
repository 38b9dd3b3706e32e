"""The persisted row of a background job, which the UI polls for progress, and of each worker process."""
from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from panel.models.base import Model, created_at, intpk, timestamp


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Model):
    __tablename__ = "jobs"
    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[JobStatus] = mapped_column(String(16), default=JobStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)  # percent
    message: Mapped[str] = mapped_column(String(255), default="")
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]
    started_at: Mapped[timestamp]
    finished_at: Mapped[timestamp]
    # Who runs it and until when: past either, the reaper fails it so the action can be retried.
    worker_id: Mapped[int | None] = mapped_column(Integer, index=True)
    deadline_at: Mapped[timestamp]


class Worker(Model):
    """A `wadah worker` process, alive while its heartbeat is fresh."""

    __tablename__ = "workers"
    id: Mapped[intpk]
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[created_at]
    last_beat_at: Mapped[created_at]
