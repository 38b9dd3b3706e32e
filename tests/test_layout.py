"""The import direction the architecture promises: scanners ← agents ← panel (client only)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package → top-level packages of ours it must not import (and allowed exceptions)
FORBIDDEN = {
    "scanners": {"panel", "agents"},
    "agents": {"panel"},
    "panel": {"agents"},
}
# What the panel may use of the agents: how to talk to them (and enrol them), and the
# content-addressed store both keep.
ALLOWED = {"agents.client", "agents.protocol", "agents.artifacts", "agents.pki"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    offending = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN[package] and not any(
                name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED
            ) and name not in {"agents"}:
                offending.append(f"{path.relative_to(ROOT)}: {name}")
    assert offending == []


def test_importing_the_panel_has_no_side_effects(tmp_path: Path) -> None:
    import subprocess
    import sys

    # A fresh interpreter imports every panel module; nothing may appear in a fresh state dir.
    code = ("import pkgutil, importlib, panel\n"
            "for m in pkgutil.walk_packages(panel.__path__, 'panel.'):\n"
            "    importlib.import_module(m.name)\n")
    env = {"WADAH_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    assert not (tmp_path / "state").exists()
