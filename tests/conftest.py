"""Fixtures shared by the whole suite."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest

from panel.testbed import Testbed, TestbedError
from tests.support import unavailable

# Tests that use any of these need the real services; they get the `services` marker.
SERVICE_FIXTURES = {"testbed", "testbed_credentials", "docker_client", "dns_zone", "mariadb_admin",
                    "postgres_url", "runtime_images"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


@pytest.fixture(scope="session")
def testbed() -> dict[str, dict[str, Any]]:
    """Start the shared testbed (or reuse it) and return its status; it keeps running afterwards."""
    try:
        return Testbed().up()
    except TestbedError as exc:
        unavailable(f"the testbed could not start:\n{exc}")


@pytest.fixture(scope="session")
def testbed_credentials(testbed: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Return the shared testbed's secrets (TSIG secret, MariaDB admin and PostgreSQL passwords)."""
    return Testbed().credentials()


@pytest.fixture(scope="session")
def docker_client(testbed: dict[str, dict[str, Any]]) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=testbed["docker"]["address"])
    yield client
    client.close()


@pytest.fixture(scope="session")
def dns_zone(testbed: dict[str, dict[str, Any]],
             testbed_credentials: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Return what dnspython needs to query and update the test zone."""
    named = testbed["named"]
    host, port = _host_port(named["address"])
    return {"host": host, "port": port, "zone": named["zone"], "key_name": named["tsig_key_name"],
            "secret": testbed_credentials["named"]["tsig_secret"],
            "algorithm": named["tsig_algorithm"]}


@pytest.fixture(scope="session")
def mariadb_admin(testbed: dict[str, dict[str, Any]],
                  testbed_credentials: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Return the MariaDB account the agent uses to create per-app databases and users (TCP)."""
    host, port = _host_port(testbed["mariadb"]["tcp"])
    return {"host": host, "port": port, "user": testbed["mariadb"]["admin_user"],
            "password": testbed_credentials["mariadb"]["admin_password"]}


@pytest.fixture(scope="session")
def postgres_url(testbed_credentials: dict[str, dict[str, str]]) -> str:
    """Return a SQLAlchemy URL for the `wadah_test` database, password included."""
    url = testbed_credentials["postgres"]["url"]
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def runtime_images(docker_client: docker.DockerClient) -> dict[str, Any]:
    """Build the runtime images in the testbed's Docker (reused while their recipe is unchanged)."""
    from agents.images import ensure_runtime_images

    return ensure_runtime_images(docker_client)
