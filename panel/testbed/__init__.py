"""The testbed: the real services Wadah needs (Docker, nginx, clamd, BIND, MariaDB, PostgreSQL,
Redis), started as background processes on loopback and high ports, with their state under
`STATE/testbed/`.
"""
from __future__ import annotations

from panel.testbed.errors import TestbedError
from panel.testbed.services import SERVICES, tsig_secret
from panel.testbed.system import read_secret
from panel.testbed.testbed import Testbed

__all__ = ["SERVICES", "Testbed", "TestbedError", "read_secret", "tsig_secret"]
