"""The import direction the architecture promises: scanners ← agents ← panel (shared protocol only)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("panel", "agents", "scanners")
# package → top-level packages of ours it must not import (and allowed exceptions)
FORBIDDEN = {
    "scanners": {"panel", "agents"},
    "agents": {"panel"},
    "panel": {"agents"},
}
# What the panel may use of the agents: only what both ends share (names, messages, signatures, the
# bundle store, the certificate vocabulary), the owner-only file primitives, and the restic
# repository the agents keep apps' backups in, which the panel keeps its own backup in too. The
# client, the CA and enrolment are the panel's own; the agent's key and trust store are the agent's.
SHARED = "agents.protocol"
ALLOWED = {SHARED, "agents.private_files", "agents.backups"}


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


def test_the_shared_protocol_imports_nothing_else_of_ours() -> None:
    """What the panel may import of `agents` stands alone: no agent-side module comes in with it."""
    offending = []
    for path in sorted((ROOT / "agents" / "protocol").rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in PACKAGES and name != "agents" and not (
                    name == SHARED or name.startswith(SHARED + ".")):
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


def _module_graph() -> dict[str, set[str]]:
    """Return {module: modules of ours it imports}, imports inside functions included."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                found = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in found:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    # A package's __init__ importing its own submodules is not a cycle of the design.
    graph = {name: {t for t in targets if not name.startswith(t + ".")}
             for name, targets in _module_graph().items()}
    assert _cycles(graph) == []


def test_services_import_no_view_task_or_action() -> None:
    """Services are the domain's verbs: the pages, the API, the jobs and the wiring call them."""
    above = ("panel.blueprints", "panel.tasks", "panel.actions")
    graph = _module_graph()
    offending = sorted(f"{name} → {target}" for name, targets in graph.items()
                       if name.startswith("panel.services") for target in targets
                       if target.startswith(above))
    assert offending == []


# The modules that own a workflow's status: each assigns its model's, and nothing else assigns one.
STATUS_OWNERS = {
    "panel/services/releases/release_lifecycle.py",  # Release
    "panel/services/apps/app_lifecycle.py",  # App
    "panel/services/infra/host_lifecycle.py",  # Host
    "panel/services/releases/app_uploads.py",  # AppUpload
    "panel/services/requests/workflow.py",  # HostingRequest
    "panel/jobs.py",  # Job
}


def test_statuses_are_assigned_only_by_their_lifecycle_module() -> None:
    offending = []
    for path in sorted((ROOT / "panel").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        if where in STATUS_OWNERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), where)):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
                named = node.args[1] if len(node.args) > 1 else None
                if isinstance(named, ast.Constant) and named.value == "status":
                    offending.append(f"{where}:{node.lineno}")
            while targets:
                target = targets.pop()
                if isinstance(target, (ast.Tuple, ast.List)):
                    targets.extend(target.elts)
                elif isinstance(target, ast.Attribute) and target.attr == "status":
                    offending.append(f"{where}:{node.lineno}")
    assert offending == []


def _imported_test_modules(path: Path) -> list[str]:
    """Return the test modules (last dotted part `test_*`) that `path` imports, relative imports too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # `from . import test_x` names the module in the alias; `from .test_x import y` in `module`.
            names = [node.module] if node.module else [alias.name for alias in node.names]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if name.split(".")[-1].startswith("test_")]
    return found


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in conftest.py or a support module, so each test module stands alone."""
    offending = [f"{path.relative_to(ROOT)}:{where}"
                 for folder in ("tests", "bench") for path in sorted((ROOT / folder).rglob("*.py"))
                 for where in _imported_test_modules(path)]
    assert offending == []
