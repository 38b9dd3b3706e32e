"""Slow down password and code guessing without letting a stranger lock anyone out.

Failures are counted in three buckets: one account from one address, one address at any account,
and one account from any address. Past a bucket's free attempts, each failure makes that bucket wait
twice as long as the last, up to its ceiling; while any bucket of an attempt waits, the attempt is
refused without checking the password. The one-account-from-anywhere ceiling is short (seconds): a
stranger hammering an account from elsewhere can delay its owner that long, never lock them out.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from panel import audit
from panel.extensions import db
from panel.models import LoginThrottle, User
from panel.models.base import utcnow

# A bucket that saw no failure for this long starts again from zero, and its row is deleted.
FORGET_AFTER = timedelta(hours=24)
ANY = ""  # the `account` or `address` of a bucket that counts across all of them
# IPv6 clients are counted per /64: one end site holds a whole /64 and can rotate through it freely.
IPV6_PREFIX = 64


@dataclass(frozen=True)
class Limit:
    free: int  # failures before the first wait
    ceiling_seconds: int  # the longest wait the doubling reaches


@dataclass(frozen=True)
class Policy:
    pair: Limit  # one account from one address
    address: Limit  # one address at any account (password spraying)
    account: Limit  # one account from any address: short, see the module docstring

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        """Read the policy from the panel's configuration."""
        ceiling = int(config["LOGIN_MAX_WAIT_SECONDS"])
        return cls(pair=Limit(int(config["LOGIN_FREE_ATTEMPTS"]), ceiling),
                   address=Limit(int(config["LOGIN_ADDRESS_FREE_ATTEMPTS"]), ceiling),
                   account=Limit(int(config["LOGIN_ACCOUNT_FREE_ATTEMPTS"]),
                                 int(config["LOGIN_ACCOUNT_MAX_WAIT_SECONDS"])))

    def buckets(self, account: str, address: str) -> dict[str, tuple[str, str, Limit]]:
        return {"account_address": (account, address, self.pair),
                "address": (ANY, address, self.address),
                "account": (account, ANY, self.account)}


def client_key(address: str | None) -> str:
    """Return the address an attempt is counted under: the IPv4 address, or the IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "unknown")[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)


def waiting(account: str, address: str, policy: Policy, *, user: User | None = None,
            now: datetime | None = None) -> str | None:
    """Return the bucket that makes this attempt wait (audited), or None if it may go ahead."""
    now = now or utcnow()
    account, address = account[:64], client_key(address)
    scopes = {(bucket_account, bucket_address): scope
              for scope, (bucket_account, bucket_address, _limit) in policy.buckets(account, address).items()}
    rows = db.session.scalars(select(LoginThrottle).where(or_(*(
        and_(LoginThrottle.account == bucket_account, LoginThrottle.address == bucket_address)
        for bucket_account, bucket_address in scopes))))
    for row in rows:
        if row.blocked_until is not None and _aware(row.blocked_until) > now:
            scope = scopes[(row.account, row.address)]
            # Only a known account's refusals are recorded: what an unknown name was is not kept.
            if user is not None:
                audit.record("auth.login_throttled", user, actor=user, scope=scope)
            return scope
    return None


def failed(account: str, address: str, policy: Policy, *, user: User | None = None,
           now: datetime | None = None) -> None:
    """Count a failed attempt in each bucket and make the buckets past their free attempts wait."""
    now = now or utcnow()
    account, address = account[:64], client_key(address)
    db.session.execute(delete(LoginThrottle).where(
        LoginThrottle.last_failure_at < now - FORGET_AFTER,
        or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now)))
    for scope, (bucket_account, bucket_address, limit) in policy.buckets(account, address).items():
        failures = _count(bucket_account, bucket_address, now)
        if failures <= limit.free:
            continue
        seconds = min(limit.ceiling_seconds, 2 ** min(failures - limit.free, 30))
        db.session.execute(update(LoginThrottle)
                           .where(LoginThrottle.account == bucket_account,
                                  LoginThrottle.address == bucket_address)
                           .values(blocked_until=now + timedelta(seconds=seconds)))
        # A known account is the event's target; the address is the event's own `ip`.
        audit.record("auth.throttle", user, actor=user, scope=scope, failures=failures, seconds=seconds)


def succeeded(account: str, address: str) -> None:
    """Forget this client's failures at this account after it signed in.

    The address's and the account's buckets stand: signing in to one's own account must not wipe out
    guesses at other accounts, nor a stranger's guesses at this one.
    """
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.account == account[:64],
                                                   LoginThrottle.address == client_key(address)))


def _count(account: str, address: str, now: datetime) -> int:
    # One atomic upsert, so concurrent failures cannot undercount each other.
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(LoginThrottle).values(account=account, address=address, failures=1,
                                             last_failure_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[LoginThrottle.account, LoginThrottle.address],
        set_={"failures": case((LoginThrottle.last_failure_at < now - FORGET_AFTER, 1),
                               else_=LoginThrottle.failures + 1),
              "last_failure_at": now})
    return int(db.session.execute(statement.returning(LoginThrottle.failures)).scalar_one())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=utcnow().tzinfo)
