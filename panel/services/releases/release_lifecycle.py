"""A release's life: pending while it is deployed, then live, failed, or retired by a newer one.

Flask-free. A release's status changes only through the transition functions below, each leaving an
audit event; the caller commits.
"""
from __future__ import annotations

from panel import audit
from panel.i18n import gettext as _
from panel.models import Release, ReleaseStatus, User
from panel.models.base import utcnow
from panel.services.refused import Refused

# from → the statuses it may move to; a failed release stays failed
TRANSITIONS = {
    ReleaseStatus.PENDING: {ReleaseStatus.LIVE, ReleaseStatus.FAILED},
    ReleaseStatus.LIVE: {ReleaseStatus.RETIRED},
    ReleaseStatus.RETIRED: {ReleaseStatus.LIVE},  # a rollback
}


class IllegalMove(Refused):
    """The release cannot take that status from the one it has; the message names both."""


def deployed(release: Release, actor: User | None, **details: object) -> None:
    """Make a release that just went live on its host the app's live one, retiring the one it replaces."""
    _retire_others(release, actor)
    release.deployed_at = utcnow()
    _move(release, ReleaseStatus.LIVE, "release.deploy", actor, **details)


def rolled_back_to(release: Release, actor: User | None, **details: object) -> None:
    """Make an earlier release the app's live one again, retiring the one it replaces."""
    _retire_others(release, actor)
    _move(release, ReleaseStatus.LIVE, "release.rollback", actor, **details)


def failed(release: Release, actor: User | None = None) -> None:
    """Record that a release never went live."""
    _move(release, ReleaseStatus.FAILED, "release.fail", actor, app=release.app.name, number=release.number)


def _retire_others(release: Release, actor: User | None) -> None:
    for older in release.app.releases:
        if older.status == ReleaseStatus.LIVE and older is not release:
            _move(older, ReleaseStatus.RETIRED, "release.retire", actor, app=older.app.name,
                  number=older.number, replaced_by=release.number)


def _move(release: Release, to: ReleaseStatus, action: str, actor: User | None, **details: object) -> None:
    if to not in TRANSITIONS.get(ReleaseStatus(release.status), set()):
        raise IllegalMove(_("Rilis berstatus %(status)s tidak dapat menjadi %(target)s.",
                            status=release.status, target=to))
    before, release.status = release.status, to
    audit.record(action, release, actor=actor, previous=str(before), **details)
