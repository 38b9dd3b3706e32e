"""Schema migrations (Alembic), run by the CLI and tests — never inside `create_app`."""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from panel import data_dir, private_files

MIGRATIONS = data_dir("migrations")


def alembic_config(url: str) -> Config:
    """Return an Alembic configuration pointed at the database `url`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    path = private_files.sqlite_path(url)
    if path is not None:  # created owner-only here when migrating comes first
        private_files.private_sqlite(path)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def new_revision(url: str, message: str) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=True)
