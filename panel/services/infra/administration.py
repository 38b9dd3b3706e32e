"""The platform administrator's inventory: DNS zones, IP pools, hosts at a glance and SOP edits.

Each change adds to the session and records its audit event; the caller commits.
A repeated form (a double click) meets a unique constraint or an explicit check, never a duplicate.
"""
from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from agents import protocol
from panel import audit, jobs
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Host, IpAllocation, IpPool, Job, RoleKey, User, Zone
from panel.models.workflow import SopTemplateVersion
from panel.services.infra import dns, hosts
from panel.services.refused import Refused
from panel.services.requests import sop, workflow

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFRESH_JOB, PROBE_JOB = "refresh_host", "probe_zone"  # the kinds of the jobs these pages launch
MIN_TTL, MAX_TTL = 60, 86400
_TSIG_KEY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?$")
# The step that files a request is the OPD's: only an OPD admin files or corrects a request.
SUBMIT_ROLE = RoleKey.OPD_ADMIN
# Every other step is the data center's: never the agency's own, never a read-only auditor's.
STEP_ROLES = (RoleKey.HEAD, RoleKey.COORDINATOR, RoleKey.TECHNICIAN, RoleKey.SUPERADMIN)


class AdminRefused(Refused):
    """The change cannot be made as asked; the message says why, in words for the administrator."""


# --- hosts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRow:
    host: Host
    health: hosts.Health
    refresh: Job | None  # the newest "Perbarui fakta" job


def host_rows(now: datetime) -> list[HostRow]:
    """Return every host with its health and its newest refresh job, by name."""
    return [HostRow(host, hosts.health(host, now), jobs.latest(REFRESH_JOB, host))
            for host in db.session.scalars(select(Host).order_by(Host.name))]


def want_refresh(host: Host, user: User) -> bool:
    """Audit a request to refresh an enrolled host's facts; return False if one is already under way."""
    hosts.expect_enrolled(host)
    if jobs.running_of((REFRESH_JOB,), host) is not None:  # a second click waits for the first
        return False
    audit.record("host.refresh", host, actor=user)
    return True


# --- zones -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneSettings:
    """A zone as the administrator typed it in."""

    name: str
    primary_server: str  # host:port
    tsig_key_name: str
    tsig_algorithm: str
    tsig_secret: str = field(repr=False)  # base64
    record_ip: str
    ttl: int


@dataclass(frozen=True)
class ZoneRow:
    zone: Zone
    probe: Job | None  # the newest "Uji" job


def zone_rows() -> list[ZoneRow]:
    """Return every zone with its newest probe job, by name."""
    return [ZoneRow(zone, jobs.latest(PROBE_JOB, zone))
            for zone in db.session.scalars(select(Zone).order_by(Zone.name))]


def want_probe(zone: Zone, user: User) -> bool:
    """Audit a request to test a zone's primary server; return False if a test is already under way."""
    if jobs.running_of((PROBE_JOB,), zone) is not None:
        return False
    audit.record("zone.probe", zone, actor=user)
    return True


def add_zone(settings: ZoneSettings, user: User) -> Zone:
    """Register a zone Wadah adds app records to, its TSIG secret encrypted at rest."""
    name = settings.name.strip().lower().rstrip(".")
    key_name = settings.tsig_key_name.strip()
    if not _TSIG_KEY_NAME.match(key_name) or len(key_name) > 255:
        raise AdminRefused(_("Nama kunci TSIG tidak sah: %(name)s", name=repr(key_name)))
    try:
        host, port = dns.parse_server(settings.primary_server)
        # The same checks the zone's every use goes through: server address, zone name, key.
        access = dns.ZoneAccess(host, port, name, key_name, settings.tsig_secret.strip(),
                                settings.tsig_algorithm)
    except dns.InvalidZoneSettings as invalid:
        raise AdminRefused(str(invalid)) from invalid
    record_ip = _address(settings.record_ip, _("Alamat IP tujuan rekaman"))
    if not MIN_TTL <= settings.ttl <= MAX_TTL:
        raise AdminRefused(_("TTL harus antara %(least)d dan %(most)d detik.", least=MIN_TTL, most=MAX_TTL))
    zone = Zone(name=name, primary_server=access.server, tsig_key_name=key_name,
                tsig_algorithm=access.algorithm, tsig_secret=access.secret, record_ip=str(record_ip),
                ttl=settings.ttl)
    _insert(zone, _("Zona %(zone)s sudah terdaftar.", zone=name),
            db.session.scalar(select(Zone.id).where(Zone.name == name)) is not None)
    audit.record("zone.add", zone, actor=user, name=name, server=access.server, tsig_name=key_name,
                 algorithm=access.algorithm, record_ip=zone.record_ip, ttl=zone.ttl)
    return zone


# --- IP pools ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressRange:
    """The addresses of a pool: `first` to `last`, inside `network`."""

    network: IpNetwork
    first: IpAddress
    last: IpAddress

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def overlaps(self, other: AddressRange) -> bool:
        return (self.first.version == other.first.version
                and int(self.first) <= int(other.last) and int(other.first) <= int(self.last))

    def __str__(self) -> str:
        return f"{self.first}–{self.last}"


@dataclass(frozen=True)
class PoolRow:
    pool: IpPool
    size: int
    used: int

    @property
    def free(self) -> int:
        return self.size - self.used


def address_range(network: str, first: str, last: str) -> AddressRange:
    """Parse a pool's range, refusing a bad network or addresses outside it or in the wrong order."""
    try:
        parsed = ipaddress.ip_network(network.strip(), strict=True)
    except ValueError as invalid:
        raise AdminRefused(_("Jaringan %(network)s bukan CIDR yang sah (contoh: 10.10.1.0/24): %(error)s",
                             network=repr(network.strip()), error=invalid)) from invalid
    start, end = _address(first, _("Alamat pertama")), _address(last, _("Alamat terakhir"))
    for is_first, address in ((True, start), (False, end)):
        if address.version != parsed.version or address not in parsed:
            raise AdminRefused(
                _("Alamat pertama %(address)s berada di luar jaringan %(network)s.", address=address,
                  network=parsed) if is_first else
                _("Alamat terakhir %(address)s berada di luar jaringan %(network)s.", address=address,
                  network=parsed))
        # The network and broadcast addresses of an IPv4 subnet are never given to a host.
        if parsed.version == 4 and parsed.prefixlen < 31 and address in (parsed.network_address,
                                                                         parsed.broadcast_address):
            raise AdminRefused(
                _("Alamat pertama %(address)s adalah alamat jaringan atau broadcast %(network)s.",
                  address=address, network=parsed) if is_first else
                _("Alamat terakhir %(address)s adalah alamat jaringan atau broadcast %(network)s.",
                  address=address, network=parsed))
    if int(start) > int(end):  # both of the network's version by now
        raise AdminRefused(_("Alamat pertama %(first)s harus sebelum alamat terakhir %(last)s.",
                             first=start, last=end))
    return AddressRange(parsed, start, end)


def pool_rows() -> list[PoolRow]:
    """Return every pool with how many of its addresses are given out, by name."""
    counts = db.session.execute(select(IpAllocation.pool_id, func.count()).group_by(IpAllocation.pool_id))
    used = {pool_id: count for pool_id, count in counts}
    rows = []
    for pool in db.session.scalars(select(IpPool).order_by(IpPool.name)):
        size = int(ipaddress.ip_address(pool.last)) - int(ipaddress.ip_address(pool.first)) + 1
        rows.append(PoolRow(pool, size, used.get(pool.id, 0)))
    return rows


def add_pool(name: str, network: str, first: str, last: str, user: User) -> IpPool:
    """Register a pool of addresses for apps, refusing a range another pool already covers."""
    name = name.strip()
    try:
        protocol.label(name)
    except protocol.InvalidName as invalid:
        raise AdminRefused(_("Nama pool tidak sah (huruf kecil, angka, tanda hubung): %(name)s",
                             name=repr(name))) from invalid
    wanted = address_range(network, first, last)
    exists = db.session.scalar(select(IpPool.id).where(IpPool.name == name)) is not None
    if not exists:
        for other in db.session.scalars(select(IpPool).order_by(IpPool.name)):
            taken = AddressRange(ipaddress.ip_network(other.network), ipaddress.ip_address(other.first),
                                 ipaddress.ip_address(other.last))
            if wanted.overlaps(taken):
                raise AdminRefused(_("Rentang %(range)s bertumpang tindih dengan pool %(pool)s (%(taken)s).",
                                     range=wanted, pool=other.name, taken=taken))
    pool = IpPool(name=name, network=str(wanted.network), first=str(wanted.first), last=str(wanted.last))
    _insert(pool, _("Pool %(pool)s sudah terdaftar.", pool=name), exists)
    audit.record("pool.add", pool, actor=user, name=name, network=pool.network, first=pool.first,
                 last=pool.last)
    return pool


# --- SOP templates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepEdit:
    """What the administrator may change in one step: who acts, the time limit, the output text."""

    role: str
    waktu_menit: int | None  # None: no time limit
    output: str


def latest_templates() -> list[SopTemplateVersion]:
    """Return the newest version of each SOP template, by key."""
    newest = (select(SopTemplateVersion.key, func.max(SopTemplateVersion.version).label("version"))
              .group_by(SopTemplateVersion.key).subquery())
    return list(db.session.scalars(
        select(SopTemplateVersion)
        .join(newest, (SopTemplateVersion.key == newest.c.key)
              & (SopTemplateVersion.version == newest.c.version))
        .order_by(SopTemplateVersion.key)))


def template_version(key: str, version: int) -> SopTemplateVersion | None:
    return db.session.scalar(select(SopTemplateVersion).where(
        SopTemplateVersion.key == key, SopTemplateVersion.version == version))


def revise_template(key: str, base_version: int, edits: Mapping[str, StepEdit],
                    user: User) -> tuple[SopTemplateVersion, bool]:
    """Store the edited steps of version `base_version` as the template's next version.

    Return the newest version and whether it is new. Requests already filed keep the version they
    were filed under; only requests filed afterwards follow the new one.
    """
    base = template_version(key, base_version)
    if base is None:
        raise AdminRefused(_("Templat SOP %(key)s versi %(version)s tidak ada.", key=repr(key),
                             version=base_version))
    definition = _edited(base.definition, edits)
    latest = workflow.latest_version(key)
    if definition == latest.definition:  # nothing changed, or the same form sent twice
        return latest, False
    if latest.version != base.version:
        raise AdminRefused(_("Templat sudah diubah menjadi versi %(version)s sejak halaman ini dibuka; "
                             "muat ulang halaman dan ulangi perubahan Anda.", version=latest.version))
    try:
        template = sop.parse(definition)
    except sop.InvalidTemplate as invalid:
        raise AdminRefused(_("Perubahan tidak disimpan: %(error)s", error=invalid)) from invalid
    revision = SopTemplateVersion(key=key, version=latest.version + 1, name=template.name,
                                  definition=definition, created_by_id=user.id)
    _insert(revision, _("Templat baru saja diubah orang lain; muat ulang halaman."), False)
    changed = [new["key"] for old, new in zip(latest.definition["steps"], definition["steps"], strict=True)
               if old != new]
    audit.record("sop.revise", revision, actor=user, template=key, version=revision.version,
                 steps=changed)
    return revision, True


def _edited(definition: dict[str, Any], edits: Mapping[str, StepEdit]) -> dict[str, Any]:
    edited = copy.deepcopy(definition)
    steps = edited.get("steps", [])
    if set(edits) != {raw.get("key") for raw in steps}:
        raise AdminRefused(_("Isian langkah tidak cocok dengan templat; muat ulang halaman."))
    for raw in steps:
        edit = edits[raw["key"]]
        if raw.get("action") == sop.StepAction.SUBMIT and edit.role != SUBMIT_ROLE:
            raise AdminRefused(_("Langkah %(step)s mengajukan permohonan: pelaksananya selalu "
                                 "Pengelola Aplikasi OPD.", step=repr(raw["label"])))
        if raw.get("action") != sop.StepAction.SUBMIT and edit.role not in STEP_ROLES:
            raise AdminRefused(_("Langkah %(step)s dilaksanakan Diskominfo: pilih Kepala Bidang, "
                                 "Sub Koordinator, Pengelola Instalasi TI atau Administrator Platform.",
                                 step=repr(raw["label"])))
        raw["role"] = edit.role
        if edit.waktu_menit is None:
            raw.pop("waktu_menit", None)
        else:
            raw["waktu_menit"] = edit.waktu_menit
        if "output" in raw:
            if not edit.output.strip():
                raise AdminRefused(_("Keluaran langkah %(step)s tidak boleh kosong.",
                                     step=repr(raw["label"])))
            raw["output"] = edit.output.strip()
    return edited


# --- shared ------------------------------------------------------------------------------------


def _address(text: str, what: str) -> IpAddress:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise AdminRefused(_("%(what)s bukan alamat IP yang sah: %(text)s", what=what,
                             text=repr(text.strip()))) from None


def _insert(row: Any, duplicate: str, known_duplicate: bool) -> None:
    # The check answers the usual repeat; the unique constraint settles two forms sent at once.
    if known_duplicate:
        raise AdminRefused(duplicate)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError as clash:
        raise AdminRefused(duplicate) from clash
