"""Column helpers shared by the models."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from sqlalchemy import DateTime, String
from sqlalchemy.orm import mapped_column


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


intpk = Annotated[int, mapped_column(primary_key=True)]
created_at = Annotated[datetime, mapped_column(DateTime(timezone=True), default=utcnow)]
timestamp = Annotated[datetime | None, mapped_column(DateTime(timezone=True))]
sha256_hex = Annotated[str, mapped_column(String(64))]
