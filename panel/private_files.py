"""Files only the panel's user may read: the instance folder and what it holds.

The instance file (SECRET_KEY, SECRETS_KEY), the SQLite databases (sessions of work, encrypted
secrets, job results) and the instance folder itself: `init_app` makes or tightens them each time
the app is built, before anything opens them, with the same primitives the agent uses for its keys.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

from agents.private_files import private_dir, private_sqlite, tighten, tighten_sqlite, write

__all__ = ["init_app", "private_dir", "private_sqlite", "sqlite_path", "tighten", "tighten_sqlite",
           "write"]


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite database URL, or None for another database or an in-memory one."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return None if parsed.database.startswith("file:") else Path(parsed.database)


def init_app(app: Flask) -> None:
    """Make the instance folder owner-only, and its secret files before anything opens them."""
    instance = private_dir(Path(app.instance_path))
    # Everything the panel keeps at the top of its instance folder is its own: secrets, databases,
    # the demo logins. Subfolders keep their own rules (content-addressed stores, the CA).
    with os.scandir(instance) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                tighten(Path(entry.path))
    for url in (app.config["SQLALCHEMY_DATABASE_URI"], app.config["JOBS_BACKEND"]):
        path = sqlite_path(url) if isinstance(url, str) else None
        if path is not None:
            private_sqlite(path)
