"""The code's own bar, checked with the tests: ruff everywhere, mypy on agents, scanners and panel."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_agents_scanners_and_panel() -> None:
    result = _run("mypy", "--no-incremental", "agents", "scanners", "panel")
    assert result.returncode == 0, result.stdout + result.stderr
