"""Fixtures of the attack tests: a real agent on the testbed, a way to act as a hosted app, and the
real panel (its app, database and client, as in tests/panel) for the attacks that go through it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from agents import defaults
from agents.host import HostAgent
from tests.agents.test_host import make_host, remove_everything
from tests.panel.conftest import app, cheap_password_hashing, client, migrated_db  # noqa: F401


@pytest.fixture(scope="module")
def host(testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
         runtime_images: dict[str, Any], mariadb_admin: dict[str, Any],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostAgent]:
    """A HostAgent on the testbed; every app it ran is removed afterwards."""
    agent = make_host(testbed, docker_client, mariadb_admin, tmp_path_factory.mktemp("attack"))
    yield agent
    remove_everything(agent)


def as_app(host: HostAgent, name: str, *argv: str) -> str:
    """Run `argv` inside the app's running container as the app's own user; return its output."""
    (container,) = [c for c in host.runtime.owned(name) if c.status == "running"]
    code, output = container.exec_run(list(argv), user=f"{defaults.APP_UID}:{defaults.APP_GID}")
    text = output.decode(errors="replace")
    assert code == 0, text
    return text
