"""Scanning engines. Importing this package registers every engine in `ENGINES`."""
from __future__ import annotations

from scanners.engines import bandit, clamav, dockerfile, filetypes, judol, php, scripts, secrets
from scanners.engines.base import Engine, FileEngine, ScannedFile
from scanners.engines.registry import ENGINES, register

__all__ = [
    "ENGINES",
    "Engine",
    "FileEngine",
    "ScannedFile",
    "bandit",
    "clamav",
    "dockerfile",
    "filetypes",
    "judol",
    "php",
    "register",
    "scripts",
    "secrets",
]
