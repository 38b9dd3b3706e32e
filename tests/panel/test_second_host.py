"""A second container host that works: each app's name points at, and is served by, its own host."""
from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest
from flask import Flask
from sqlalchemy import select

from panel.extensions import db
from panel.models import App, AppStatus, Host, RoleKey
from panel.services.infra import hosts
from panel.testbed import system
from panel.testbed.services.web import NGINX_CONF
from tests.panel import factories, flow
from tests.panel.agent import free_port, running_agent
from tests.support import fetch, unavailable

pytestmark = pytest.mark.slow

SECOND_FRONT = "127.0.0.2"


@contextmanager
def private_nginx(testbed: dict[str, dict[str, Any]], root: Path, address: str) -> Iterator[dict[str, Any]]:
    """Run an nginx of the testbed's binary and configuration on `address`; yield its settings."""
    binary = testbed["nginx"]["binary"]
    if not binary:
        unavailable("nginx binary")
    listen = f"{address}:{free_port()}"
    prefix = f"{root}/"
    for sub in ("sites", "logs", "run", "temp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    account = system.service_account()
    if account is not None:
        system.grant_traverse(root / "temp", account)
        system.grant_traverse(root / "logs", account)
    user = f"user {account.name};\n" if account else ""
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, listen=listen))
    process = subprocess.Popen([binary, "-p", prefix, "-c", str(conf), "-e", "stderr"],
                               stdout=subprocess.DEVNULL, stderr=(root / "stderr.log").open("wb"))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if fetch(listen, "nobody.invalid")[0] == 404:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the second nginx did not start: {(root / 'stderr.log').read_text()}")
            time.sleep(0.2)
        yield {"binary": binary, "prefix": prefix, "conf": str(conf), "sites_dir": str(root / "sites"),
               "http": listen}
    finally:
        process.terminate()
        process.wait(20)


def _resolve(dns_zone: dict[str, Any], fqdn: str) -> list[str]:
    query = dns.message.make_query(fqdn, dns.rdatatype.A)
    answer = dns.query.udp(query, dns_zone["host"], port=int(dns_zone["port"]), timeout=5)
    return sorted(item.address for rrset in answer.answer for item in rrset)


def _favour(chosen: Host, other: Host) -> None:
    # Allocation picks the online host with the most free memory: make it `chosen`.
    chosen.facts = {**(chosen.facts or {}), "memory_available_bytes": 64 * 1024**3}
    other.facts = {**(other.facts or {}), "memory_available_bytes": 8 * 1024**3}
    db.session.commit()


def test_apps_on_two_hosts_resolve_to_and_are_served_by_their_own_front(
        app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
        tmp_path: Path) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician = flow.signed_in(app, factories.user([RoleKey.TECHNICIAN]))
    db.session.commit()
    first_front = testbed["nginx"]["http"].rpartition(":")[0]
    assert first_front == "127.0.0.1"
    token = secrets.token_hex(3)
    subdomains = {"first": f"satu{token}", "second": f"dua{token}"}
    with ExitStack() as stack:
        nginx_b = stack.enter_context(private_nginx(testbed, tmp_path / "nginx-b", SECOND_FRONT))
        host_a = stack.enter_context(running_agent(agents, "host-a", testbed, tmp_path))
        host_b = stack.enter_context(running_agent(agents, "host-b", testbed, tmp_path,
                                                   nginx=nginx_b))
        hosts.set_front_address(host_b, SECOND_FRONT, None)
        for host in (host_a, host_b):
            hosts.refresh_facts(agents, host)
        db.session.commit()
        assert (host_a.front, host_b.front) == ("127.0.0.1", SECOND_FRONT)
        placed: dict[str, App] = {}
        try:
            for which, chosen, other in (("first", host_a, host_b), ("second", host_b, host_a)):
                _favour(chosen, other)
                filed = flow.approved_request(subdomain=subdomains[which])
                flow.upload_scan_allocate(technician, filed, flow.site(f"Situs {subdomains[which]}"))
                flow.post(technician, f"/requests/{filed.id}/deploy")
                db.session.expire_all()
                placed[which] = db.session.scalar(select(App).where(App.request_id == filed.id))
                assert placed[which] is not None, flow.flashes(technician, f"/requests/{filed.id}")
                assert placed[which].host_id == chosen.id
                assert placed[which].status == AppStatus.RUNNING, \
                    flow.flashes(technician, f"/requests/{filed.id}")

            fronts = {"first": testbed["nginx"]["http"], "second": nginx_b["http"]}
            for which, front in fronts.items():
                fqdn = placed[which].fqdn
                assert _resolve(dns_zone, fqdn) == [front.rpartition(":")[0]]
                assert fetch(front, fqdn) == (200, f"<h1>Situs {subdomains[which]}</h1>\n")
            # Each front serves only its own host's apps.
            assert fetch(fronts["second"], placed["first"].fqdn)[0] == 404
            assert fetch(fronts["first"], placed["second"].fqdn)[0] == 404
        finally:
            for which, host in (("first", host_a), ("second", host_b)):
                flow.clean_up(agents, host, subdomains[which], zone)
