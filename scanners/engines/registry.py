"""The registry of engines, by name; each engine module registers its class on import."""
from __future__ import annotations

from typing import TypeVar

from scanners.engines.base import Engine

ENGINES: dict[str, type[Engine]] = {}

E = TypeVar("E", bound=type[Engine])


def register(engine: E) -> E:
    """Add an engine class to the registry under its `name`."""
    if engine.name in ENGINES:
        raise ValueError(f"engine {engine.name!r} is already registered")
    ENGINES[engine.name] = engine
    return engine
