"""A hosted app's life: allocated, deploying, then running, stopped or failed, and at last removed.

Flask-free. An app's status changes only through the transition functions below, each leaving an
audit event; the caller commits. A removed app stays as a record and never moves again; an external
app (hosted before Wadah) is only recorded, and may only be marked removed.
"""
from __future__ import annotations

from datetime import datetime

from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import App, AppStatus, User
from panel.services.refused import Refused

# from → the statuses it may move to; `removed` and nothing else is final
TRANSITIONS = {
    AppStatus.ALLOCATED: {AppStatus.DEPLOYING, AppStatus.REMOVED},
    # Deploying again: a deploy whose worker died half-way is tried once more.
    AppStatus.DEPLOYING: {AppStatus.RUNNING, AppStatus.FAILED, AppStatus.DEPLOYING},
    AppStatus.RUNNING: {AppStatus.DEPLOYING, AppStatus.RUNNING, AppStatus.STOPPED, AppStatus.REMOVED},
    AppStatus.STOPPED: {AppStatus.DEPLOYING, AppStatus.RUNNING, AppStatus.STOPPED, AppStatus.REMOVED},
    AppStatus.FAILED: {AppStatus.DEPLOYING, AppStatus.RUNNING, AppStatus.STOPPED, AppStatus.REMOVED},
    AppStatus.EXTERNAL: {AppStatus.REMOVED},
}
# What each control action leaves the app as ("status" only reads it).
CONTROLLED = {"start": AppStatus.RUNNING, "restart": AppStatus.RUNNING, "stop": AppStatus.STOPPED}


class IllegalMove(Refused):
    """The app cannot take that status from the one it has; the message names both."""


def may_move(app: App, to: AppStatus) -> bool:
    """Return whether the app may take status `to` now, so a caller can refuse before touching its host."""
    return to in TRANSITIONS.get(AppStatus(app.status), set())


def deploying(app: App, actor: User | None, number: int) -> None:
    """Record that release `number` of the app is being deployed."""
    _move(app, AppStatus.DEPLOYING, "app.deploying", actor, number=number)


def deployed(app: App, actor: User | None, number: int) -> None:
    """Record that release `number` went live: the app runs it."""
    _move(app, AppStatus.RUNNING, "app.deployed", actor, number=number)


def deploy_failed(app: App, actor: User | None, number: int, still_live: bool) -> None:
    """Record that release `number` did not go live: the app runs its old release, if it has one."""
    _move(app, AppStatus.RUNNING if still_live else AppStatus.FAILED, "app.deploy_failed", actor,
          number=number)


def controlled(app: App, action: str, actor: User | None, state: object) -> None:
    """Record that the app was started, stopped or restarted on its host, which now reports `state`."""
    _move(app, CONTROLLED[action], f"app.{action}", actor, state=state)


def rolled_back(app: App, actor: User | None, number: int) -> None:
    """Record that the app runs its earlier release `number` again."""
    _move(app, AppStatus.RUNNING, "app.rollback", actor, number=number)


def removed(app: App, actor: User | None, reason: str, dump: str | None, at: datetime) -> None:
    """Record that the app was decommissioned at `at`: gone from its host and its zone, kept here."""
    _move(app, AppStatus.REMOVED, "app.removed", actor, reason=reason, dump=dump)
    app.removed_at, app.removal_reason, app.removal_dump = at, reason, dump


def new_external(actor: User, **fields: object) -> App:
    """Return a new app record for one hosted before Wadah: counted and listed, never deployed."""
    app = App(status=AppStatus.EXTERNAL, **fields)
    db.session.add(app)
    db.session.flush()  # the audit event names its id
    audit.record("app.external_recorded", app, actor=actor, name=app.name)
    return app


def _move(app: App, to: AppStatus, action: str, actor: User | None, **details: object) -> None:
    if not may_move(app, to):
        raise IllegalMove(_("Aplikasi berstatus %(status)s tidak dapat menjadi %(target)s.",
                            status=app.status, target=to))
    before, app.status = app.status, to
    audit.record(action, app, actor=actor, previous=str(before), status=str(to), **details)
