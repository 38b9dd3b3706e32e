"""Fixtures the agent test modules share."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from agents.host import HostAgent
from tests.agents.support import Agent, make_host, remove_everything, start_agent, stop_agent


@pytest.fixture(scope="module")
def host(testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
         runtime_images: dict[str, Any], mariadb_admin: dict[str, Any],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostAgent]:
    agent = make_host(testbed, docker_client, mariadb_admin, tmp_path_factory.mktemp("host"))
    yield agent
    remove_everything(agent)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    running = start_agent(tmp_path)
    yield running
    stop_agent(running)
