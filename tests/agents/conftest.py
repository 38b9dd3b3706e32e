"""Fixtures for the agent's tests."""
from __future__ import annotations

import docker
import pytest

from agents.images import ImageInfo, ensure_runtime_images


@pytest.fixture(scope="session")
def runtime_images(docker_client: docker.DockerClient) -> dict[str, ImageInfo]:
    """Build the runtime images in the testbed's Docker (reused while their recipe is unchanged)."""
    return ensure_runtime_images(docker_client)
