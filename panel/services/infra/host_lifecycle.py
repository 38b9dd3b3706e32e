"""A container host's life: pending until its agent enrols, then online or unreachable; retired last.

Flask-free. A host's status changes only through the transition functions below, each leaving an
audit event; the caller commits. A host seen in the same state again changes nothing and writes
nothing, so the minutely refresh does not fill the audit trail. A host whose agent lost its key goes
back to pending until it enrols again; a retired host never comes back.
"""
from __future__ import annotations

from datetime import datetime

from panel import audit
from panel.i18n import gettext as _
from panel.models import Host, HostStatus, User
from panel.models.base import utcnow
from panel.services.refused import Refused

# from → the statuses it may move to
TRANSITIONS = {
    HostStatus.PENDING: {HostStatus.ONLINE, HostStatus.RETIRED},  # only an enrolment brings it online
    HostStatus.ONLINE: {HostStatus.UNREACHABLE, HostStatus.PENDING, HostStatus.RETIRED},
    HostStatus.UNREACHABLE: {HostStatus.ONLINE, HostStatus.PENDING, HostStatus.RETIRED},
}


class IllegalMove(Refused):
    """The host cannot take that status from the one it has; the message names both."""


def enrolled(host: Host, fingerprint: str, not_after: datetime | None = None) -> None:
    """Record that the host's agent enrolled with the certificate of `fingerprint`: the host is online."""
    previous = host.cert_fingerprint  # a re-enrolment replaces the certificate of a lost key
    host.cert_fingerprint, host.enrolled_at, host.cert_not_after = fingerprint, utcnow(), not_after
    _move(host, HostStatus.ONLINE, "host.enrol", fingerprint=fingerprint, replaced=previous)


def renewed(host: Host, fingerprint: str, not_after: datetime) -> None:
    """Record that the host's agent renewed its certificate: only the new one is accepted from now."""
    previous = host.cert_fingerprint
    host.cert_fingerprint, host.cert_not_after = fingerprint, not_after
    host.cert_renewed_at = utcnow()
    audit.record("host.renew", host, actor=None, previous=previous, fingerprint=fingerprint,
                 not_after=not_after.isoformat())


def reenrolling(host: Host, actor: User | None) -> None:
    """Record that the host's agent must enrol again (it lost its key): pending until it does."""
    _move(host, HostStatus.PENDING, "host.reenroll", actor)


def retired(host: Host, actor: User | None) -> None:
    """Record that the host is removed: the panel never calls it again nor renews its certificate."""
    _move(host, HostStatus.RETIRED, "host.remove", actor, fingerprint=host.cert_fingerprint)


def reached(host: Host) -> None:
    """Record that the host's agent answered."""
    if host.status == HostStatus.PENDING:  # an agent that never enrolled is not back online
        raise _illegal(host, HostStatus.ONLINE)
    if host.status != HostStatus.ONLINE:
        _move(host, HostStatus.ONLINE, "host.online")


def lost(host: Host, error: object) -> None:
    """Record that the host's agent could not be reached."""
    if host.status in (HostStatus.PENDING, HostStatus.RETIRED):
        return  # the panel does not call such a host, so it cannot have lost it
    if host.status != HostStatus.UNREACHABLE:
        _move(host, HostStatus.UNREACHABLE, "host.unreachable", error=str(error))


def _move(host: Host, to: HostStatus, action: str, actor: User | None = None,
          **details: object) -> None:
    if to not in TRANSITIONS.get(HostStatus(host.status), set()):
        raise _illegal(host, to)
    before, host.status = host.status, to
    audit.record(action, host, actor=actor, previous=str(before), **details)


def _illegal(host: Host, to: HostStatus) -> IllegalMove:
    return IllegalMove(_("Host berstatus %(status)s tidak dapat menjadi %(target)s.",
                         status=host.status, target=to))
