"""Helpers the attack tests share: acting as a hosted app from inside its own container."""
from __future__ import annotations

from agents import defaults
from agents.host import HostAgent


def as_app(host: HostAgent, name: str, *argv: str) -> str:
    """Run `argv` inside the app's running container as the app's own user; return its output."""
    (container,) = [c for c in host.runtime.owned(name) if c.status == "running"]
    code, output = container.exec_run(list(argv), user=f"{defaults.APP_UID}:{defaults.APP_GID}")
    text = output.decode(errors="replace")
    assert code == 0, text
    return text
