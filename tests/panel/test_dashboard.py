from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from panel.extensions import db
from panel.formatting import durasi
from panel.models import HostingRequest, Opd, RoleKey
from panel.models.base import utcnow
from panel.services.requests import sla, workflow, worklist
from tests.panel import factories


def _filed(owner: Opd | None = None, minutes_ago: float = 0) -> HostingRequest:
    """File a request whose open step (Kabid, Mutu Baku 5 minutes) started `minutes_ago`."""
    filed = factories.hosting_request(owner)
    workflow.current_step(filed).started_at = utcnow() - timedelta(minutes=minutes_ago)
    return filed


def _overdue(owner: Opd | None = None) -> HostingRequest:
    return _filed(owner, minutes_ago=125)


def _section(page: str, heading_id: str) -> str:
    match = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', page, re.DOTALL)
    assert match, f"no section {heading_id}"
    return match.group(1)


def _linked_requests(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/requests/(\d+)"', html)}


@contextmanager
def _statement_count() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_steps_waiting_for_my_role_and_the_late_ones(client: FlaskClient, login_as) -> None:
    login_as(RoleKey.HEAD)
    late, fresh = _overdue(), _filed(minutes_ago=1)
    db.session.commit()

    page = client.get("/").get_data(as_text=True)
    waiting, overdue = _section(page, "langkah-menunggu"), _section(page, "langkah-terlambat")
    assert _linked_requests(waiting) == {late.id, fresh.id}
    assert _linked_requests(overdue) == {late.id}
    assert "Menerima surat permohonan penggunaan sub-domain dan hosting" in waiting
    assert "2 jam 5 menit / 5 menit" in overdue
    assert '<span class="badge badge-late">Terlambat</span>' in overdue
    assert "Kepala Bidang / Kepala Dinas" in overdue  # whose step it is
    assert late.number in overdue and late.app_name in overdue


def test_late_steps_of_other_roles_reach_officials_but_not_their_waiting_list(client, login_as) -> None:
    login_as(RoleKey.COORDINATOR)
    late = _overdue()  # the Kabid's step, not the coordinator's
    db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert _linked_requests(_section(page, "langkah-menunggu")) == set()
    assert "Tidak ada langkah yang menunggu Anda" in page
    assert _linked_requests(_section(page, "langkah-terlambat")) == {late.id}


def test_opd_admin_sees_only_their_own_agencys_late_steps(client, login_as) -> None:
    admin = login_as(RoleKey.OPD_ADMIN)
    ours, theirs = _overdue(admin.opd), _overdue()
    in_correction = _filed(admin.opd)
    workflow.act(in_correction, factories.user([RoleKey.HEAD]))
    workflow.act(in_correction, factories.user([RoleKey.COORDINATOR]), decision="perbaikan")
    elsewhere = _filed()
    workflow.act(elsewhere, factories.user([RoleKey.HEAD]))
    workflow.act(elsewhere, factories.user([RoleKey.COORDINATOR]), decision="perbaikan")
    db.session.commit()

    page = client.get("/").get_data(as_text=True)
    assert _linked_requests(_section(page, "langkah-terlambat")) == {ours.id}
    assert theirs.number not in page
    # A request sent back for correction waits for its own agency only.
    assert _linked_requests(_section(page, "langkah-menunggu")) == {in_correction.id}
    assert "tanpa Mutu Baku" in page


def test_the_fragment_is_the_same_partial_without_the_page(client, login_as) -> None:
    login_as(RoleKey.HEAD)
    late = _overdue()
    db.session.commit()

    page = client.get("/").get_data(as_text=True)
    fragment = client.get("/dashboard/steps")
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and fragment.mimetype == "text/html"
    assert "<html" not in html and "<nav" not in html
    assert _linked_requests(html) == {late.id} and "badge-late" in html
    assert _section(html, "langkah-terlambat") == _section(page, "langkah-terlambat")
    assert 'data-refresh-url="/dashboard/steps"' in page


def test_the_page_refreshes_with_its_own_script_file_only(client, login_as) -> None:
    login_as(RoleKey.TECHNICIAN)
    response = client.get("/")
    page = response.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL)
    assert (' src="/static/dashboard.js" defer', "") in scripts
    assert all('src="/static/' in tag and not body.strip() for tag, body in scripts)  # nothing inline
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200 and b"/dashboard/steps" not in script.data  # the URL comes from the page


def test_late_steps_are_cut_at_the_limit_oldest_first(app: Flask) -> None:
    head = factories.user([RoleKey.HEAD])
    filed = [_filed(minutes_ago=100 - n) for n in range(4)]
    db.session.commit()
    listed = worklist.worklist_for(head, utcnow(), limit=3)
    assert listed is not None and listed.more_overdue and listed.more_waiting
    assert [row.request_id for row in listed.overdue] == [r.id for r in filed[:3]]


def test_web_panel_accounts_and_users_without_requests_get_no_lists(client, login_as) -> None:
    login_as(RoleKey.APP_ACCOUNT)
    _overdue()
    db.session.commit()
    assert "langkah-terlambat" not in client.get("/").get_data(as_text=True)
    assert client.get("/dashboard/steps").get_data(as_text=True).strip() == ""


@pytest.mark.parametrize(("minutes", "text"), [
    (0.4, "0 menit"), (5, "5 menit"), (60, "1 jam"), (125, "2 jam 5 menit"), (1440, "1 hari"),
    (1440 * 3 + 250, "3 hari 4 jam"), (None, "—"),
])
def test_durations_read_as_people_say_them(minutes, text) -> None:
    assert durasi(minutes) == text


@pytest.mark.parametrize("path", ["/", "/dashboard/steps"])
def test_statements_per_page_do_not_grow_with_the_late_requests(app, client, login_as, path) -> None:
    login_as(RoleKey.HEAD)

    def statements_with(late: int) -> int:
        for _ in range(late - len(sla.overdue_steps(utcnow()))):
            _overdue()
        db.session.commit()
        db.session.expire_all()  # nothing loaded by the test may stand in for the page's own queries
        with _statement_count() as seen:
            page = client.get(path).get_data(as_text=True)
        assert len(_linked_requests(_section(page, "langkah-terlambat"))) == late
        return len(seen)

    assert statements_with(3) == statements_with(30)
