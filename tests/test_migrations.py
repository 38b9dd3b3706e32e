"""Migrations: one head, they build the models' schema, and they run on SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from panel import database
from panel.extensions import db


def test_there_is_one_migration_head() -> None:
    assert len(database.heads()) == 1


def _round_trip(url: str) -> None:
    database.upgrade(url)
    # Autogenerate finds nothing to add: the migrations describe exactly the models.
    command.check(database.alembic_config(url))
    database.downgrade(url, "base")
    engine = sa.create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    database.upgrade(url)
    assert set(db.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_migrations_round_trip_on_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'wadah.db'}")


@pytest.mark.services
def test_migrations_round_trip_on_postgresql(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:  # start from an empty schema
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    _round_trip(postgres_url)
