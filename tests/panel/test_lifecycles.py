"""The lifecycles of releases, apps and hosts: each status moves only as its table allows, audited."""
from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import AppStatus, AuditEvent, HostStatus, ReleaseStatus
from panel.services.apps import app_lifecycle
from panel.services.infra import host_lifecycle
from panel.services.releases import release_lifecycle
from tests.panel import factories


def _release(status: ReleaseStatus) -> Any:
    return factories.release(factories.app(), status=status)


def _app(status: AppStatus) -> Any:
    return factories.app(status=status)


def _host(status: HostStatus) -> Any:
    return factories.host(status=status)


# module, its statuses, how to make a row in a status, and its one move
LIFECYCLES: dict[str, tuple[Any, type[enum.StrEnum], Callable[[Any], Any], Callable[..., None]]] = {
    "release": (release_lifecycle, ReleaseStatus, _release,
                lambda row, to: release_lifecycle._move(row, to, "release.test", None)),
    "app": (app_lifecycle, AppStatus, _app, lambda row, to: app_lifecycle._move(row, to, "app.test", None)),
    "host": (host_lifecycle, HostStatus, _host, lambda row, to: host_lifecycle._move(row, to, "host.test")),
}
MOVES = [(name, before, to, to in lifecycle.TRANSITIONS.get(before, set()))
         for name, (lifecycle, statuses, _, _) in LIFECYCLES.items()
         for before in statuses for to in statuses]


def _events() -> int:
    return db.session.scalar(select(func.count(AuditEvent.id))) or 0


@pytest.mark.parametrize(("name", "before", "to", "allowed"), MOVES,
                         ids=[f"{n}-{b}-{t}" for n, b, t, _ in MOVES])
def test_a_status_moves_only_as_its_table_allows(app: Flask, name: str, before: enum.StrEnum,
                                                 to: enum.StrEnum, allowed: bool) -> None:
    lifecycle, _, make, move = LIFECYCLES[name]
    row = make(before)
    events = _events()
    if not allowed:
        with pytest.raises(lifecycle.IllegalMove):
            move(row, to)
        assert row.status == before and _events() == events  # nothing changed, nothing recorded
        return
    move(row, to)
    db.session.flush()
    assert row.status == to
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None and _events() == events + 1
    assert (event.action, event.target_type, event.details["previous"]) == (
        f"{name}.test", type(row).__name__, str(before))


def test_a_failed_release_never_goes_live(app: Flask) -> None:
    failed = _release(ReleaseStatus.FAILED)
    with pytest.raises(release_lifecycle.IllegalMove):
        release_lifecycle.rolled_back_to(failed, None)
    assert failed.status == ReleaseStatus.FAILED


def test_a_deploy_retires_the_release_it_replaces(app: Flask) -> None:
    running = factories.app(status=AppStatus.DEPLOYING)
    old = factories.release(running, status=ReleaseStatus.LIVE)
    new = factories.release(running, status=ReleaseStatus.PENDING)
    release_lifecycle.deployed(new, None, number=new.number)
    app_lifecycle.deployed(running, None, new.number)
    db.session.flush()
    assert (old.status, new.status, running.status) == (
        ReleaseStatus.RETIRED, ReleaseStatus.LIVE, AppStatus.RUNNING)
    assert new.deployed_at is not None
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["release.retire", "release.deploy", "app.deployed"]


def test_an_app_not_allocated_yet_cannot_be_started(app: Flask) -> None:
    waiting = _app(AppStatus.ALLOCATED)
    assert not app_lifecycle.may_move(waiting, AppStatus.RUNNING)
    with pytest.raises(app_lifecycle.IllegalMove):
        app_lifecycle.controlled(waiting, "start", None, "running")
    assert waiting.status == AppStatus.ALLOCATED


def test_a_host_seen_again_writes_nothing_and_only_enrolment_brings_it_online(app: Flask) -> None:
    pending = _host(HostStatus.PENDING)
    with pytest.raises(host_lifecycle.IllegalMove):
        host_lifecycle.reached(pending)  # a host whose agent never enrolled is not "back online"
    host_lifecycle.enrolled(pending, "ab:cd")
    events = _events()
    host_lifecycle.reached(pending)
    db.session.flush()
    assert pending.status == HostStatus.ONLINE and _events() == events
    host_lifecycle.lost(pending, "koneksi ditolak")
    host_lifecycle.lost(pending, "koneksi ditolak")
    db.session.flush()
    assert pending.status == HostStatus.UNREACHABLE and _events() == events + 1
