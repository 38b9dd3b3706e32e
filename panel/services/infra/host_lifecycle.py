"""A container host's life: pending until its agent enrols, then online or unreachable.

Flask-free. A host's status changes only through the transition functions below, each leaving an
audit event; the caller commits. A host seen in the same state again changes nothing and writes
nothing, so the minutely refresh does not fill the audit trail. No verb retires a host yet.
"""
from __future__ import annotations

from panel import audit
from panel.i18n import gettext as _
from panel.models import Host, HostStatus
from panel.models.base import utcnow
from panel.services.refused import Refused

# from → the statuses it may move to
TRANSITIONS = {
    HostStatus.PENDING: {HostStatus.ONLINE},  # only its agent's enrolment brings a host online first
    HostStatus.ONLINE: {HostStatus.UNREACHABLE},
    HostStatus.UNREACHABLE: {HostStatus.ONLINE},
}


class IllegalMove(Refused):
    """The host cannot take that status from the one it has; the message names both."""


def enrolled(host: Host, fingerprint: str) -> None:
    """Record that the host's agent enrolled with the certificate of `fingerprint`: the host is online."""
    host.cert_fingerprint, host.enrolled_at = fingerprint, utcnow()
    _move(host, HostStatus.ONLINE, "host.enrol", fingerprint=fingerprint)


def reached(host: Host) -> None:
    """Record that the host's agent answered."""
    if host.status == HostStatus.PENDING:  # an agent that never enrolled is not back online
        raise _illegal(host, HostStatus.ONLINE)
    if host.status != HostStatus.ONLINE:
        _move(host, HostStatus.ONLINE, "host.online")


def lost(host: Host, error: object) -> None:
    """Record that the host's agent could not be reached."""
    if host.status != HostStatus.UNREACHABLE:
        _move(host, HostStatus.UNREACHABLE, "host.unreachable", error=str(error))


def _move(host: Host, to: HostStatus, action: str, **details: object) -> None:
    if to not in TRANSITIONS.get(HostStatus(host.status), set()):
        raise _illegal(host, to)
    before, host.status = host.status, to
    audit.record(action, host, actor=None, previous=str(before), **details)


def _illegal(host: Host, to: HostStatus) -> IllegalMove:
    return IllegalMove(_("Host berstatus %(status)s tidak dapat menjadi %(target)s.",
                         status=host.status, target=to))
