"""Alembic environment: migrates the database whose URL the caller puts in the config."""
from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import panel.models  # noqa: F401  (registers every table on the metadata)
from panel.crypto import EncryptedText
from panel.extensions import db

config = context.config
target_metadata = db.metadata


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = config.attributes.get("connection") or engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    if hasattr(connectable, "connect") and not hasattr(connectable, "execute"):
        with connectable.connect() as connection:
            _migrate(connection)
    else:
        _migrate(connectable)


def _render_item(kind: str, item, autogen_context):  # type: ignore[no-untyped-def]
    # Encrypted columns are plain text to the database; migrations must not import panel code.
    if kind == "type" and isinstance(item, EncryptedText):
        return "sa.Text()"
    return False


def _migrate(connection) -> None:  # type: ignore[no-untyped-def]
    # Batch mode lets ALTER TABLE migrations run on SQLite too.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      render_item=_render_item)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
