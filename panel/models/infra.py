"""Where apps run: container hosts, hosted apps and their releases."""
from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agents import protocol
from panel.models.base import Model, created_at, intpk, timestamp


class Stack(enum.StrEnum):
    STATIC = "static"
    PHP = "php"
    DOCKERFILE = "dockerfile"


class HostStatus(enum.StrEnum):
    PENDING = "pending"  # enrolment token issued, agent not yet seen
    ONLINE = "online"
    UNREACHABLE = "unreachable"
    RETIRED = "retired"


class AppStatus(enum.StrEnum):
    ALLOCATED = "allocated"
    DEPLOYING = "deploying"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    REMOVED = "removed"  # decommissioned: gone from its host and the zone, kept here for the record
    EXTERNAL = "external"  # hosted before Wadah, elsewhere: recorded, never touched by an agent
    CRASH_LOOP = "crash_loop"  # its host's agent reports it dies again and again after starting


class ReleaseStatus(enum.StrEnum):
    PENDING = "pending"
    LIVE = "live"
    FAILED = "failed"
    RETIRED = "retired"


class Host(Model):
    __tablename__ = "hosts"
    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(63), unique=True)
    agent_url: Mapped[str] = mapped_column(String(255))
    status: Mapped[HostStatus] = mapped_column(String(16), default=HostStatus.PENDING)
    cert_fingerprint: Mapped[str | None] = mapped_column(String(95))
    cert_not_after: Mapped[timestamp]  # when the agent's current certificate expires
    cert_renewed_at: Mapped[timestamp]  # the last renewal, which paces the next one
    # The certificate whose coming expiry technicians were told of, so they are told once.
    expiry_notice_for: Mapped[str | None] = mapped_column(String(95))
    # The IP its nginx listens on for apps: their DNS names point here (the agent's address if None).
    front_address: Mapped[str | None] = mapped_column(String(45))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enrolled_at: Mapped[timestamp]
    last_seen_at: Mapped[timestamp]
    created_at: Mapped[created_at]

    @property
    def agent_address(self) -> str:
        """The name or IP address its agent is reached at."""
        from urllib.parse import urlsplit

        return urlsplit(self.agent_url).hostname or ""

    @property
    def front(self) -> str:
        """The address its apps' DNS names point at (shown on its page)."""
        return self.front_address or self.agent_address

    @property
    def front_ip(self) -> str | None:
        """The IP its apps' DNS names point at: its front address, else its agent's if an IP."""
        import ipaddress

        try:
            return str(ipaddress.ip_address(self.front))
        except ValueError:
            return None  # an agent reached by name: the zone's own front address applies


class App(Model):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("subdomain", "zone"),)
    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(63), unique=True)
    subdomain: Mapped[str] = mapped_column(String(63))
    zone: Mapped[str] = mapped_column(String(253))
    opd_id: Mapped[int] = mapped_column(ForeignKey("opds.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("hosting_requests.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"))
    stack: Mapped[Stack] = mapped_column(String(16))
    needs_database: Mapped[bool] = mapped_column(default=False)  # its host's agent gives it a MariaDB
    # The limit on its writable data (MiB): the size of its data volume on its host.
    storage_mb: Mapped[int] = mapped_column(default=protocol.STORAGE_DEFAULT_MB)
    status: Mapped[AppStatus] = mapped_column(String(16), default=AppStatus.ALLOCATED)
    ip: Mapped[str | None] = mapped_column(String(45))
    # Hours between two scheduled backups on its host (0: only on demand).
    backup_hours: Mapped[int] = mapped_column(default=24)
    created_at: Mapped[created_at]
    removed_at: Mapped[timestamp]
    removal_reason: Mapped[str | None] = mapped_column(Text)
    removal_dump: Mapped[str | None] = mapped_column(String(255))  # its final database dump, on its host
    # An external app (hosted before Wadah): where it is served and on which server, as recorded.
    external_url: Mapped[str | None] = mapped_column(String(255))
    external_server: Mapped[str | None] = mapped_column(String(200))

    opd = relationship("Opd")
    host: Mapped[Host | None] = relationship()
    releases: Mapped[list[Release]] = relationship(back_populates="app", order_by="Release.number")
    account = relationship("AppAccount", back_populates="app", uselist=False)

    @property
    def fqdn(self) -> str:
        return f"{self.subdomain}.{self.zone}"

    def front_ip(self, zone_record_ip: str | None) -> str | None:
        """The IP its name points at: its own, else its host's front, else the zone's record IP."""
        return self.ip or (self.host.front_ip if self.host else None) or zone_record_ip

    @property
    def is_external(self) -> bool:
        return self.status == AppStatus.EXTERNAL

    @property
    def live_release(self) -> Release | None:
        """The release the app runs now, if any."""
        return next((r for r in self.releases if r.status == ReleaseStatus.LIVE), None)


class Release(Model):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("app_id", "number"),)
    id: Mapped[intpk]
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"), index=True)
    number: Mapped[int]
    artifact_sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    scan_report_id: Mapped[int] = mapped_column(ForeignKey("scan_reports.id"))
    status: Mapped[ReleaseStatus] = mapped_column(String(16), default=ReleaseStatus.PENDING)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[created_at]
    deployed_at: Mapped[timestamp]
    # A Dockerfile app: the image its build made, and the scan of the files that build added.
    image_id: Mapped[str | None] = mapped_column(String(71))
    build_scan_report_id: Mapped[int | None] = mapped_column(ForeignKey("scan_reports.id"))

    app: Mapped[App] = relationship(back_populates="releases")
    scan_report = relationship("ScanReport", foreign_keys=[scan_report_id])
    build_scan_report = relationship("ScanReport", foreign_keys=[build_scan_report_id])
