"""The testbed as a whole: start, stop and report a set of services sharing one state directory."""
from __future__ import annotations

import logging
import os
import subprocess
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from panel import config
from panel.testbed import system
from panel.testbed.defaults import DEFAULT_PORTS, PORT_ENV_VARS, TESTBED_SUBDIR
from panel.testbed.errors import TestbedError
from panel.testbed.services import SERVICES, Service, tsig_secret

logger = logging.getLogger(__name__)


class Testbed:
    """Local Docker, nginx, clamd, BIND, MariaDB, PostgreSQL and Redis under `STATE/testbed/`."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        state_dir: str | Path | None = None,
        ports: Mapping[str, int] | None = None,
        services: Sequence[type[Service]] = SERVICES,
        subdir: str = TESTBED_SUBDIR,
    ) -> None:
        """Describe a testbed; `state_dir` and `ports` override WADAH_STATE_DIR and the defaults.

        `services` and `subdir` let `wadah up` run the panel's own processes the same way.
        """
        self.state_dir = Path(state_dir or config.state_dir()).expanduser().absolute()
        # Resolved: the local services may be a link to a shared set (see tests/test_fresh_install.py).
        self.dir = (self.state_dir / subdir).resolve()
        chosen = {name: int(os.environ.get(PORT_ENV_VARS[name], default))
                  for name, default in DEFAULT_PORTS.items()}
        chosen.update(ports or {})
        self.services: dict[str, Service] = {
            cls.name: cls(self.dir, chosen.get(cls.name)) for cls in services
        }

    def select(self, only: Iterable[str] | None = None) -> list[Service]:
        """Return the named services (all when `only` is None) in start order.

        A service that already runs is described on the port it was started with, whatever the
        port asked for now.
        """
        wanted = set(self.services if only is None else only)
        unknown = wanted - self.services.keys()
        if unknown:
            raise TestbedError(None, f"unknown service(s): {', '.join(sorted(unknown))}; "
                                     f"known: {', '.join(self.services)}")
        selected = [service for name, service in self.services.items() if name in wanted]
        for service in selected:
            service.adopt_running_port()
        return selected

    def up(self, only: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Start the services that are not running, wait until all answer and return `status()`.

        Each entry also says whether this call `started` it. On failure everything this call
        started is stopped again and TestbedError names the service and its log.
        """
        selected = self.select(only)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with system.locked(self.dir / "testbed.lock"):
            spawned: dict[str, subprocess.Popen | None] = {}
            try:
                for service in selected:
                    if service.running_pid() is not None:
                        spawned[service.name] = None
                        continue
                    logger.info("starting %s", service.name)
                    spawned[service.name] = service.start()
                # Started together, then awaited in order: the slow starters overlap.
                for service in selected:
                    proc = spawned[service.name]
                    service.wait_ready(proc)
                    if proc is not None:
                        service.initialise()
                        logger.info("%s is ready", service.name)
            except BaseException:
                for service in reversed(selected):
                    proc = spawned.get(service.name)
                    if proc is not None:
                        logger.info("stopping %s again", service.name)
                        service.abort(proc)
                raise
        result = self.status(only)
        for name, entry in result.items():
            entry["started"] = spawned[name] is not None
        return result

    def down(self, only: Iterable[str] | None = None) -> dict[str, str]:
        """Stop the services this testbed started (data directories stay); return what each did."""
        selected = self.select(only)
        if not self.dir.is_dir():
            return {service.name: "not running" for service in selected}
        with system.locked(self.dir / "testbed.lock"):
            return {service.name: service.stop() for service in reversed(selected)}

    def status(self, only: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Return, per service, whether it runs and answers, its pid, address, log and extras."""
        return {service.name: service.status() for service in self.select(only)}

    def credentials(self) -> dict[str, dict[str, str]]:
        """Return the secrets the services were set up with, read from their 0600 files."""
        named, mariadb, postgres, redis = (
            service.extras() for service in self.select(("named", "mariadb", "postgres", "redis")))
        pg_password = system.read_secret(postgres["password_file"])
        pg_login = f"{postgres['user']}:{urllib.parse.quote(pg_password, safe='')}@"
        redis_password = system.read_secret(redis["password_file"])
        redis_login = f":{urllib.parse.quote(redis_password, safe='')}@"
        return {
            "named": {"tsig_secret": tsig_secret(named["tsig_key_file"])},
            "mariadb": {"admin_password": system.read_secret(mariadb["admin_password_file"])},
            "postgres": {"password": pg_password,
                         "url": postgres["url"].replace(f"{postgres['user']}@", pg_login, 1)},
            "redis": {"password": redis_password,
                      "url": redis["url"].replace("redis://", f"redis://{redis_login}", 1)},
        }
