"""Whether the panel can do its work: its database and job queue answer and a worker beats.

One judgement for `/api/v1/health` and `wadah doctor`. It names what is down and what to do, and
never quotes an error's text (a connection error may carry an address or a password): only its class.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from panel import jobs
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Host, HostStatus, Worker
from panel.models.base import utcnow
from panel.services.infra import hosts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str  # database, queue, worker
    ok: bool
    detail: str  # what was found
    remedy: str  # what to do when it is down ("" when it is not)


@dataclass(frozen=True)
class HostContact:
    name: str
    status: str
    last_seen_at: datetime | None
    fresh: bool  # its agent reported within the last few minutes


@dataclass(frozen=True)
class Health:
    checks: list[Check]
    hosts: list[HostContact]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def down(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]


def check(now: datetime | None = None) -> Health:
    """Judge the database, the job queue and the workers, and list each host's last contact."""
    now = now or utcnow()
    database = _database()
    checks = [database, _queue(), _workers(now) if database.ok else Check(
        "worker", False, _("Detak pekerja tidak dapat dibaca: basis data tidak menjawab."),
        _("Pulihkan basis data terlebih dahulu."))]
    return Health(checks, _host_contacts(now) if database.ok else [])


def _database() -> Check:
    try:
        db.session.scalar(select(Worker.id).limit(1))  # the newest table: answers, and is migrated
    except SQLAlchemyError as error:
        db.session.rollback()
        logger.warning("The database does not answer", exc_info=True)
        return Check("database", False, _("Basis data tidak menjawab (%(error)s).",
                                          error=type(error).__name__),
                     _("Periksa layanan basis data dan SQLALCHEMY_DATABASE_URI, lalu jalankan "
                       "`wadah db upgrade`."))
    return Check("database", True, _("Basis data menjawab."), "")


def _queue() -> Check:
    try:
        pending = jobs.huey.pending_count()
    except Exception as error:  # SQLite or Redis: each library raises its own kind
        logger.warning("The job queue does not answer", exc_info=True)
        return Check("queue", False, _("Antrean tugas tidak menjawab (%(error)s).",
                                       error=type(error).__name__),
                     _("Periksa JOBS_BACKEND (berkas SQLite atau layanan Redis) lalu jalankan ulang "
                       "`wadah web` dan `wadah worker`."))
    return Check("queue", True, _("Antrean tugas menjawab; %(count)d tugas menunggu.", count=pending), "")


def _workers(now: datetime) -> Check:
    if jobs.huey.immediate:  # tasks run inside the web process itself: there is no worker to wait for
        return Check("worker", True, _("Tugas dijalankan langsung oleh proses web."), "")
    last_beat = db.session.scalar(select(func.max(Worker.last_beat_at)))
    if last_beat is not None and last_beat.tzinfo is None:  # SQLite returns naive datetimes, in UTC
        last_beat = last_beat.replace(tzinfo=UTC)
    if last_beat is None:
        return Check("worker", False, _("Belum pernah ada pekerja yang berjalan."),
                     _("Jalankan `wadah worker` (atau `systemctl start wadah-worker`)."))
    seconds = int((now - last_beat).total_seconds())
    if now - last_beat > jobs.DEAD_AFTER:
        return Check("worker", False, _("Detak pekerja terakhir %(seconds)d detik yang lalu: tidak ada "
                                        "pekerja yang berjalan.", seconds=seconds),
                     _("Jalankan `wadah worker` (atau `systemctl restart wadah-worker`) dan periksa "
                       "lognya; tugas yang terhenti sudah ditandai gagal dan dapat dijalankan lagi."))
    alive = db.session.scalar(select(func.count()).select_from(Worker)
                              .where(Worker.last_beat_at >= now - jobs.DEAD_AFTER)) or 0
    return Check("worker", True, _("%(count)d pekerja berjalan; detak terakhir %(seconds)d detik yang "
                                   "lalu.", count=alive, seconds=max(seconds, 0)), "")


def _host_contacts(now: datetime) -> list[HostContact]:
    found = db.session.scalars(select(Host).where(Host.status != HostStatus.RETIRED).order_by(Host.name))
    contacts = []
    for host in found:
        seen = host.last_seen_at
        if seen is not None and seen.tzinfo is None:
            seen = seen.replace(tzinfo=UTC)
        fresh = seen is not None and now - seen <= hosts.FACTS_STALE_AFTER
        contacts.append(HostContact(host.name, str(host.status), seen, fresh))
    return contacts
