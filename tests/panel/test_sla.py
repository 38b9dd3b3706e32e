from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from panel.extensions import db
from panel.models import AttachmentKind, RoleKey
from panel.models.workflow import RequestStep, SopTemplateVersion
from panel.services.requests import sla, workflow
from panel.services.requests.sla import TimingState
from tests.panel import factories

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PATTERN = "{seq:03d}/HOST/DISKOMINFO/{year}"
WIB = timezone(timedelta(hours=7))


def _step(started_minutes_ago: float, due: int | None = 10, finished_minutes_ago: float | None = None,
          naive: bool = False) -> RequestStep:
    started = NOW - timedelta(minutes=started_minutes_ago)
    finished = None if finished_minutes_ago is None else NOW - timedelta(minutes=finished_minutes_ago)
    if naive:  # as SQLite returns them
        started = started.replace(tzinfo=None)
        finished = finished.replace(tzinfo=None) if finished else None
    return RequestStep(step_key="telaah", role=RoleKey.COORDINATOR, due_minutes=due, started_at=started,
                       finished_at=finished)


@pytest.mark.parametrize(("started", "finished", "state", "remaining"), [
    (5, None, TimingState.ON_TIME, 5),
    (7.9, None, TimingState.ON_TIME, 2.1),
    (8, None, TimingState.DUE_SOON, 2),  # the last 20% of the Mutu Baku
    (10, None, TimingState.DUE_SOON, 0),  # exactly at the limit is not late yet
    (10.5, None, TimingState.OVERDUE, -0.5),
    (30, 21, TimingState.DONE_ON_TIME, 1),
    (30, 15, TimingState.DONE_LATE, -5),
])
def test_step_timing_states(started, finished, state, remaining) -> None:
    timing = sla.step_timing(_step(started, finished_minutes_ago=finished), NOW)
    assert timing.state == state
    assert timing.due_minutes == 10
    assert timing.remaining_minutes == pytest.approx(remaining)
    assert timing.elapsed_minutes == pytest.approx(started - (finished or 0))
    assert timing.late == (state in (TimingState.OVERDUE, TimingState.DONE_LATE))


def test_a_step_without_mutu_baku_is_never_late() -> None:
    open_step, done = sla.step_timing(_step(600, due=None), NOW), sla.step_timing(_step(600, None, 1), NOW)
    assert (open_step.state, open_step.remaining_minutes) == (TimingState.ON_TIME, None)
    assert (done.state, done.elapsed_minutes) == (TimingState.DONE_ON_TIME, pytest.approx(599))


def test_step_timing_reads_naive_timestamps_as_utc() -> None:
    timing = sla.step_timing(_step(12, naive=True), NOW.astimezone(WIB))  # WIB
    assert timing.state == TimingState.OVERDUE and timing.elapsed_minutes == pytest.approx(12)


@pytest.fixture
def people(app):
    workflow.ensure_builtin_templates()
    opd = factories.opd()
    return {
        "opd": opd,
        "opd_admin": factories.user([RoleKey.OPD_ADMIN], opd=opd),
        "head": factories.user([RoleKey.HEAD], full_name="Kadis Contoh"),
        "coordinator": factories.user([RoleKey.COORDINATOR]),
    }


def _submit(people):
    draft = workflow.RequestDraft(app_name="SIMPEG", subdomain="simpeg", stack="php")
    filed = workflow.submit(people["opd_admin"], people["opd"], draft, "muara_enim", PATTERN)
    factories.attach(filed, AttachmentKind.REQUEST_LETTER)  # the kelengkapan of the first steps
    return filed


def _open_since(request, minutes: float) -> RequestStep:
    step = workflow.current_step(request)
    step.started_at = NOW - timedelta(minutes=minutes)
    return step


def _reload() -> None:
    db.session.commit()
    db.session.expire_all()  # read back what SQLite stored: naive datetimes


def test_overdue_steps_are_exactly_the_late_open_ones(people) -> None:
    late = _open_since(_submit(people), 5 + 1 / 60)  # terima_permohonan: 5 minutes
    _open_since(_submit(people), 5 - 1 / 60)  # one second left
    finished = _submit(people)
    _open_since(finished, 60)
    workflow.act(finished, people["head"])  # finished late; the next step has just opened
    _open_since(finished, 0)
    correction = _submit(people)
    workflow.act(correction, people["head"])
    workflow.act(correction, people["coordinator"], decision="perbaikan")
    _open_since(correction, 3 * 24 * 60)  # back with the OPD: no Mutu Baku
    _reload()

    assert [step.id for step in sla.overdue_steps(NOW)] == [late.id]
    assert sla.overdue_steps(NOW - timedelta(minutes=1)) == []


def test_overdue_steps_can_leave_out_those_already_notified(people) -> None:
    first, second = _open_since(_submit(people), 20), _open_since(_submit(people), 30)
    first.overdue_notified_at = NOW
    _reload()
    assert [s.id for s in sla.overdue_steps(NOW)] == [second.id, first.id]  # oldest first
    assert [s.id for s in sla.overdue_steps(NOW, unnotified_only=True)] == [second.id]


def test_timeline_shows_each_step_with_actor_and_timing(people) -> None:
    request = _submit(people)
    _open_since(request, 7)
    workflow.act(request, people["head"], note="Diteruskan")
    _reload()

    rows = sla.timeline(request, datetime.now(UTC))
    assert [row.step_key for row in rows] == ["mulai", "terima_permohonan", "telaah_koordinasi"]
    submitted, disposed, review = rows
    assert submitted.timing.state == TimingState.DONE_ON_TIME and submitted.timing.due_minutes is None
    assert disposed.label.startswith("Menerima surat permohonan")
    assert (disposed.role, disposed.role_label) == ("head", "Kepala Bidang / Kepala Dinas")
    assert (disposed.actor, disposed.note) == ("Kadis Contoh", "Diteruskan")
    assert disposed.timing.state == TimingState.DONE_LATE and disposed.timing.due_minutes == 5
    assert disposed.started_at.tzinfo is not None
    assert review.actor is None and review.finished_at is None
    assert review.timing.state == TimingState.ON_TIME and review.timing.due_minutes == 10


def test_timeline_labels_come_from_the_pinned_template_version(people) -> None:
    request = _submit(people)
    latest = workflow.latest_version("muara_enim")
    edited = {**latest.definition, "steps": [dict(s) for s in latest.definition["steps"]]}
    edited["steps"][1]["label"] = "Label baru"
    db.session.add(SopTemplateVersion(key="muara_enim", version=2, name=latest.name, definition=edited))
    _reload()
    assert sla.timeline(request, NOW)[1].label.startswith("Menerima surat permohonan")
    assert sla.step_label(request, "tidak_ada") == "tidak_ada"


def test_compliance_summarises_finished_steps_per_key(people) -> None:
    for minutes in (3, 4, 9):  # terima_permohonan: Mutu Baku 5 minutes
        request = _submit(people)
        step = _open_since(request, minutes)
        workflow.act(request, people["head"])
        step.finished_at = NOW
    other = _submit(people)
    _open_since(other, -59)  # another agency's request an hour later, done in a minute
    workflow.act(other, people["head"]).finished_at = NOW + timedelta(hours=1)
    other.opd = factories.opd()
    _reload()

    summary = {row.step_key: row for row in sla.compliance()}
    assert set(summary) == {"terima_permohonan"}  # open steps and steps without Mutu Baku left out
    row = summary["terima_permohonan"]
    assert (row.count, row.on_time) == (4, 3)
    assert row.on_time_percent == pytest.approx(75)
    assert row.median_elapsed_minutes == pytest.approx(3.5, abs=0.01)
    only_ours = sla.compliance(opd_id=people["opd"].id)[0]
    assert (only_ours.count, only_ours.on_time) == (3, 2)
    later = sla.compliance(since=NOW + timedelta(seconds=1), until=NOW + timedelta(days=1))
    assert [(row.count, row.on_time) for row in later] == [(1, 1)]
    assert sla.compliance(until=NOW) == []  # the bound is exclusive


def test_overdue_query_runs_on_postgresql(postgres_app: None) -> None:
    workflow.ensure_builtin_templates()
    opd = factories.opd()
    people = {"opd": opd, "opd_admin": factories.user([RoleKey.OPD_ADMIN], opd=opd)}
    late = _open_since(_submit(people), 5 + 1 / 60)
    _open_since(_submit(people), 5 - 1 / 60)
    _reload()
    assert [step.id for step in sla.overdue_steps(NOW)] == [late.id]
    assert [step.id for step in sla.overdue_steps(NOW.astimezone(WIB))] == [late.id]
