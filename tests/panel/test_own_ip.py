"""An app's own IP address: asked for at filing, reserved at allocation from a pool (free in Wadah, on the
network and in DNS), bound by the agent's vhost and published in DNS, released at decommissioning."""
from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import App, AuditEvent, HostingRequest, HostStatus, IpAllocation, RoleKey
from panel.models.base import utcnow
from panel.services.apps import app_operations
from panel.services.infra import allocation, hosts, subdomains
from panel.services.infra import dns as wadah_dns
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.openapi import conforms
from tests.support import fetch

# 127.0.0.17 answers on port 80, 127.0.0.18 is in DNS, 127.0.0.19 belongs to another app.
POOL = {"network": "127.0.0.16/29", "first": "127.0.0.17", "last": "127.0.0.22"}


@contextmanager
def listening(address: str, port: int) -> Iterator[None]:
    """Hold a TCP listener on `address`:`port`, as a machine outside Wadah using that address would."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen()
        yield


def online_host() -> Any:
    return factories.host(status=HostStatus.ONLINE, facts={"memory_available_bytes": 8 * 1024**3})


def policy(app: Flask) -> subdomains.SubdomainPolicy:
    return subdomains.SubdomainPolicy.from_config(app.config)


@pytest.mark.slow
def test_allocation_skips_used_addresses_the_agent_binds_the_vhost_and_decommissioning_frees_it(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    access = wadah_dns.ZoneAccess.from_zone(zone)
    pool = factories.pool(**POOL)
    other = factories.app()
    db.session.add(IpAllocation(pool_id=pool.id, address="127.0.0.19", app_id=other.id))
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain, squatter = f"ipsendiri{secrets.token_hex(3)}", f"ipluar{secrets.token_hex(3)}"
    nginx_port = testbed["nginx"]["http"].rpartition(":")[2]
    wadah_dns.add_address(access, squatter, "127.0.0.18")
    with listening("127.0.0.17", 80), running_agent(agents, "host-ip", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain, needs_own_ip=True)
        technician = flow.signed_in(app, technician_user)
        try:
            flow.deploy_and_hand_over(technician, filed, flow.site("IP sendiri"))
            row = db.session.scalar(select(App).where(App.request_id == filed.id))
            assert row.ip == "127.0.0.20", flow.newest_job("allocate").error
            assert flow.newest_job("allocate").result["ip"] == "127.0.0.20"
            assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "app.allocate")
                                     .order_by(AuditEvent.id.desc())).details["ip"] == "127.0.0.20"
            # nginx serves the app on its own address only; its name in DNS points there.
            assert fetch(f"127.0.0.20:{nginx_port}", row.fqdn) == (200, "<h1>IP sendiri</h1>\n")
            assert fetch(testbed["nginx"]["http"], row.fqdn)[1] != "<h1>IP sendiri</h1>\n"
            assert "127.0.0.20" in wadah_dns.addresses_in_zone(access)

            app_operations.decommission(row, technician_user, "Uji selesai", agents, zone, utcnow())
            db.session.commit()
            assert row.ip is None
            assert db.session.scalar(select(IpAllocation).where(IpAllocation.address == "127.0.0.20")) is None
            assert "127.0.0.20" not in wadah_dns.addresses_in_zone(access)
            # The freed address goes to the next app that asks.
            again = factories.hosting_request(subdomain=f"lagi{secrets.token_hex(3)}", needs_own_ip=True)
            taken = allocation.allocate(again, technician_user, zone, policy(app))
            assert taken.ip == "127.0.0.20"
            db.session.rollback()
        finally:
            flow.clean_up(agents, host, subdomain, zone)
            wadah_dns.remove_address(access, squatter)


def test_a_request_asking_for_its_own_ip_with_no_pool_is_refused_and_stays_at_allocation(
    app: Flask, dns_zone: dict[str, Any],
) -> None:
    zone = flow.zone_from(dns_zone)
    online_host()
    filed = factories.hosting_request(subdomain=f"tanpapool{secrets.token_hex(3)}", needs_own_ip=True)
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    step = filed.current_step
    with pytest.raises(allocation.AllocationRefused, match="belum ada pool IP"):
        allocation.allocate(filed, technician, zone, policy(app))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(App)) == 0
    assert db.session.get(HostingRequest, filed.id).current_step == step


def test_an_exhausted_pool_refuses_with_a_clear_message(app: Flask, dns_zone: dict[str, Any]) -> None:
    zone = flow.zone_from(dns_zone)
    online_host()
    pool = factories.pool(network="127.0.0.24/30", first="127.0.0.25", last="127.0.0.25")
    db.session.add(IpAllocation(pool_id=pool.id, address="127.0.0.25", app_id=factories.app().id))
    filed = factories.hosting_request(subdomain=f"penuh{secrets.token_hex(3)}", needs_own_ip=True)
    technician = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    with pytest.raises(allocation.NoFreeAddress, match="Semua pool IP habis"):
        allocation.allocate(filed, technician, zone, policy(app))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(IpAllocation)) == 1
    assert db.session.scalar(select(App).where(App.request_id == filed.id)) is None


def test_a_request_without_the_flag_gets_no_address(app: Flask, dns_zone: dict[str, Any]) -> None:
    zone = flow.zone_from(dns_zone)
    online_host()
    factories.pool(**POOL)
    filed = factories.hosting_request(subdomain=f"biasa{secrets.token_hex(3)}")
    made = allocation.allocate(filed, factories.user([RoleKey.TECHNICIAN]), zone, policy(app))
    assert made.ip is None and db.session.scalar(select(func.count()).select_from(IpAllocation)) == 0


def test_the_api_files_a_request_asking_for_its_own_ip(app: Flask) -> None:
    headers = factories.bearer(factories.user([RoleKey.OPD_ADMIN]))
    response = app.test_client().post("/api/v1/requests", headers=headers, content_type="multipart/form-data",
                                      data=factories.filing(needs_own_ip="true"))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert conforms(response, "/requests", "post")["needs_own_ip"] is True
    assert db.session.scalar(select(HostingRequest)).needs_own_ip
    refused = app.test_client().post("/api/v1/requests", headers=headers, content_type="multipart/form-data",
                                     data=factories.filing(needs_own_ip="barangkali"))
    assert refused.status_code == 400
