"""Fixtures of the attack tests: a real agent on the testbed, and the real panel (its app, database
and client, as in tests/panel) for the attacks that go through it."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from agents.host import HostAgent
from tests.agents.support import make_host, remove_everything
from tests.panel.conftest import app, cheap_password_hashing, client, migrated_db  # noqa: F401


@pytest.fixture(scope="module")
def host(testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
         runtime_images: dict[str, Any], mariadb_admin: dict[str, Any],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostAgent]:
    """A HostAgent on the testbed; every app it ran is removed afterwards."""
    agent = make_host(testbed, docker_client, mariadb_admin, tmp_path_factory.mktemp("attack"))
    yield agent
    remove_everything(agent)
