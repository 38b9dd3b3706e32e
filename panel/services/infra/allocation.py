"""Step 5 of the SOP: a free subdomain in Wadah and in DNS, a host with room, an address if needed.

Two requests racing for one subdomain or one address: the database's unique constraints decide,
so exactly one gets it and the other gets a clear refusal.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import socket

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agents import protocol
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import App, Host, HostingRequest, HostStatus, IpAllocation, IpPool, Stack, User, Zone
from panel.services.infra import subdomains
from panel.services.infra.dns import ZoneAccess
from panel.services.refused import Refused

# A host is chosen only if this much memory stays free after the app's plan (the SOP's capacity check).
HOST_MEMORY_RESERVE_MB = 512
DEFAULT_PLAN_MEMORY_MB = 256
PROBE_PORTS = (80, 443, 22)
PROBE_TIMEOUT_S = 0.3
APP_NAME_MAX = 40  # the agent's grammar for app names (agents.protocol.app_name)


class AllocationRefused(Refused):
    """The request cannot be allocated as asked; the message says why."""


class SubdomainUnavailable(AllocationRefused):
    """The subdomain is refused or already taken: only the OPD can choose another."""


class NoCapacity(AllocationRefused):
    """No online host has room: the SOP's provisioning branch (penyediaan server) applies."""


def app_of(request: HostingRequest) -> App | None:
    return db.session.scalar(select(App).where(App.request_id == request.id))


def choose_host(memory_mb: int = DEFAULT_PLAN_MEMORY_MB) -> Host:
    """Return the online host with the most free memory that still fits the app, or raise NoCapacity."""
    def free_mb(host: Host) -> float:
        return (host.facts or {}).get("memory_available_bytes", 0) / (1024 * 1024)

    hosts = db.session.scalars(select(Host).where(Host.status == HostStatus.ONLINE)).all()
    fitting = [h for h in hosts if free_mb(h) - memory_mb >= HOST_MEMORY_RESERVE_MB]
    if not fitting:
        raise NoCapacity(_("Kapasitas server tidak tersedia: tidak ada host daring dengan memori cukup."))
    return max(fitting, key=free_mb)


def check_subdomain(name: str, zone: Zone, policy: subdomains.SubdomainPolicy,
                    except_request_id: int | None = None) -> subdomains.Availability:
    """Check `name` against the policy, Wadah's apps and open requests, and the zone's server."""
    taken = subdomains.held_in_wadah(name, zone.name, except_request_id)
    return subdomains.availability(name, ZoneAccess.from_zone(zone), taken, policy)


def allocate(request: HostingRequest, user: User, zone: Zone, policy: subdomains.SubdomainPolicy,
             pool: IpPool | None = None) -> App:
    """Reserve the request's subdomain and a host (and an address from `pool`); return the new app."""
    existing = app_of(request)
    if existing is not None:
        return existing
    availability = check_subdomain(request.subdomain, zone, policy, request.id)
    if not availability.available:
        # A zone server that cannot be asked is the data center's fault, not a reason to ask the OPD.
        unchecked = availability.status is subdomains.NameStatus.UNCHECKED
        refusal = AllocationRefused if unchecked else SubdomainUnavailable
        raise refusal(_("Sub-domain %(fqdn)s tidak dapat dipakai: %(reason)s",
                                  fqdn=availability.fqdn, reason=availability.reason))
    host = choose_host()
    app = App(name=app_name_for(request.subdomain), subdomain=request.subdomain, zone=zone.name,
              opd_id=request.opd_id, request_id=request.id, host=host, stack=Stack(request.stack),
              needs_database=request.needs_database)
    try:
        with db.session.begin_nested():
            db.session.add(app)
            db.session.flush()
    except IntegrityError as clash:
        raise SubdomainUnavailable(
            _("Sub-domain %(fqdn)s baru saja dipakai permohonan lain.",
              fqdn=f"{request.subdomain}.{zone.name}")) from clash
    if pool is not None:
        app.ip = reserve_address(pool, app).address
    audit.record("app.allocate", app, actor=user, fqdn=app.fqdn, host=host.name, ip=app.ip)
    return app


def reserve_address(pool: IpPool, app: App) -> IpAllocation:
    """Take the first address of `pool` that Wadah has not given out and that nothing answers on."""
    taken = set(db.session.scalars(select(IpAllocation.address).where(IpAllocation.pool_id == pool.id)))
    first, last = ipaddress.ip_address(pool.first), ipaddress.ip_address(pool.last)
    network = ipaddress.ip_network(pool.network)
    # Compared as integers: both lie in `network`, so they share its IP version.
    if first not in network or last not in network or int(first) > int(last):
        raise AllocationRefused(_("Rentang pool %(pool)s tidak sah.", pool=pool.name))
    candidate = first
    while int(candidate) <= int(last):
        address = str(candidate)
        if address not in taken and not _answers(address):
            try:
                with db.session.begin_nested():
                    allocation = IpAllocation(pool_id=pool.id, address=address, app_id=app.id,
                                              request_id=app.request_id)
                    db.session.add(allocation)
                    db.session.flush()
                return allocation
            except IntegrityError:  # another request took it a moment ago: try the next one
                pass
        candidate += 1
    raise AllocationRefused(_("Pool %(pool)s tidak punya alamat bebas.", pool=pool.name))


def _answers(address: str) -> bool:
    # Something already listening on a usual port means the address is in use outside Wadah.
    for port in PROBE_PORTS:
        try:
            socket.create_connection((address, port), timeout=PROBE_TIMEOUT_S).close()
            return True
        except OSError:
            continue
    return False


def app_name_for(subdomain: str) -> str:
    """Return the name the agent knows the app of `subdomain` by: its container, database, vhost.

    Distinct subdomains get distinct names: one the agent's grammar cannot take as it is (over 40
    characters, or with '--') is shortened and suffixed with a digest of the whole subdomain.
    """
    if len(subdomain) <= APP_NAME_MAX and "--" not in subdomain:
        return protocol.app_name(subdomain)
    digest = hashlib.sha256(subdomain.encode()).hexdigest()[:8]
    head = re.sub("-+", "-", subdomain)[:APP_NAME_MAX - len(digest) - 1].strip("-")
    return protocol.app_name(f"{head}-{digest}")
