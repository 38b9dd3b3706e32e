"""The Pemda's DNS zones and IP address pools that allocation draws from."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.crypto import EncryptedText
from panel.models.base import Model, created_at, intpk


class Zone(Model):
    """An authoritative DNS zone Wadah adds app records to by RFC 2136 updates signed with TSIG."""

    __tablename__ = "zones"
    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(253), unique=True)  # e.g. contoh.go.id
    primary_server: Mapped[str] = mapped_column(String(255))  # host:port of the master
    tsig_key_name: Mapped[str] = mapped_column(String(255))
    tsig_algorithm: Mapped[str] = mapped_column(String(32), default="hmac-sha256")
    tsig_secret: Mapped[str] = mapped_column(EncryptedText)
    record_ip: Mapped[str] = mapped_column(String(45))  # where app names point: the nginx front
    ttl: Mapped[int] = mapped_column(default=300)
    created_at: Mapped[created_at]


class IpPool(Model):
    """A range of addresses for apps that need their own IP (network, first and last address)."""

    __tablename__ = "ip_pools"
    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(63), unique=True)
    network: Mapped[str] = mapped_column(String(49))  # CIDR, e.g. 127.42.0.0/24 in tests
    first: Mapped[str] = mapped_column(String(45))
    last: Mapped[str] = mapped_column(String(45))
    created_at: Mapped[created_at]

    allocations: Mapped[list[IpAllocation]] = relationship(back_populates="pool")


class IpAllocation(Model):
    __tablename__ = "ip_allocations"
    __table_args__ = (UniqueConstraint("address"),)  # the database settles two requests racing
    id: Mapped[intpk]
    pool_id: Mapped[int] = mapped_column(ForeignKey("ip_pools.id"))
    address: Mapped[str] = mapped_column(String(45))
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("hosting_requests.id"))
    created_at: Mapped[created_at]

    pool: Mapped[IpPool] = relationship(back_populates="allocations")
