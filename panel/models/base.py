"""Column helpers shared by the models."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from sqlalchemy import DateTime, String
from sqlalchemy.orm import mapped_column

from panel.extensions import Base, db

if TYPE_CHECKING:
    from flask_sqlalchemy.model import Model as FsaModel

    class Model(FsaModel, Base):
        """Describe `db.Model` to the type checker: Flask-SQLAlchemy's mixins over our `Base`."""

        __abstract__ = True
else:
    # The runtime base keeps Flask-SQLAlchemy's query property, bind and table naming.
    Model = db.Model


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


intpk = Annotated[int, mapped_column(primary_key=True)]
created_at = Annotated[datetime, mapped_column(DateTime(timezone=True), default=utcnow)]
timestamp = Annotated[datetime | None, mapped_column(DateTime(timezone=True))]
sha256_hex = Annotated[str, mapped_column(String(64))]
