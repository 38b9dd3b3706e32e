"""The testbed's services: for each one, how it is prepared, started, probed and described.

`Service` (base.py) holds the lifecycle they share; each subclass only says what is particular to its
daemon, so one screen shows one service.
"""
from __future__ import annotations

from panel.testbed.services.base import Service
from panel.testbed.services.clamd import Clamd
from panel.testbed.services.databases import MariaDB, Postgres
from panel.testbed.services.named import Named, tsig_secret
from panel.testbed.services.redis import Redis
from panel.testbed.services.web import Docker, Nginx

SERVICES: tuple[type[Service], ...] = (Docker, Nginx, Clamd, Named, MariaDB, Postgres, Redis)

__all__ = ["SERVICES", "Clamd", "Docker", "MariaDB", "Named", "Nginx", "Postgres", "Redis", "Service",
           "tsig_secret"]
