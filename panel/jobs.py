"""Background jobs: huey tasks with a persisted `Job` row that the UI polls for progress.

The queue backend is bound in `init_app` (SQLite by default, Redis for several machines), so
importing this module opens nothing.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from huey import Huey
from huey.storage import BlackHoleStorage, RedisStorage, SqliteStorage

logger = logging.getLogger(__name__)

huey = Huey("wadah", storage_class=BlackHoleStorage)


def init_app(app: Flask) -> None:
    backend = app.config["JOBS_BACKEND"]
    if backend.startswith("sqlite:///"):
        huey.storage = SqliteStorage(name="wadah", filename=backend.removeprefix("sqlite:///"))
    elif backend.startswith("redis://"):
        huey.storage = RedisStorage(name="wadah", url=backend)
    else:
        raise ValueError(f"JOBS_BACKEND tidak dikenal: {backend}")
    huey.immediate = bool(app.config["JOBS_IMMEDIATE"])
    huey.flask_app = app  # type: ignore[attr-defined]


def task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a huey task that runs inside the panel's app context."""

    def decorate(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def in_app_context(*args: Any, **kwargs: Any) -> Any:
            with huey.flask_app.app_context():  # type: ignore[attr-defined]
                return fn(*args, **kwargs)

        return huey.task(**options)(in_app_context)

    return decorate
