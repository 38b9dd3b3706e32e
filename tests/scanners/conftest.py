"""Fixtures for the scanner tests: the testbed's clamd and scanners without it."""
from __future__ import annotations

from typing import Any

import pytest

from scanners.engines import ENGINES
from scanners.policy import Policy
from scanners.scan import Scanner, build_engines
from tests.support import unavailable

EICAR = (rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


@pytest.fixture(scope="session")
def clamd_url(testbed: dict[str, Any]) -> str:
    """Return the address (unix://…) of the testbed's clamd, which loads scanners/signatures."""
    services = testbed.get("services", testbed)
    return str(services["clamd"]["address"])


@pytest.fixture(scope="session")
def clamd_tcp_url(testbed: dict[str, Any]) -> str:
    services = testbed.get("services", testbed)
    tcp = services["clamd"].get("tcp")
    if not tcp:
        unavailable("the testbed's clamd has no TCP address")
    return tcp if str(tcp).startswith("tcp://") else f"tcp://{tcp}"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return Policy.load()


@pytest.fixture(scope="session")
def offline_scanner(policy: Policy) -> Scanner:
    """A scanner with every engine but ClamAV, for tests about the other engines."""
    names = [name for name in ENGINES if name != "clamav"]
    return Scanner(build_engines(policy, names=names), policy)
