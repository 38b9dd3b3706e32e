from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from panel.extensions import db
from panel.formatting import WIB
from panel.models import AuditEvent, RoleKey
from panel.services.reports import audit_log
from panel.services.reports.audit_log import Cursor, Filter, InvalidFilter
from tests.panel import factories
from tests.panel.flow import signed_in

MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 09.00 WIB


def _event(action: str = "request.step", actor: str = "kabid", at: datetime = MORNING,
           **fields: object) -> AuditEvent:
    made = AuditEvent(action=action, actor=actor, at=at, **{"details": {}, **fields})
    db.session.add(made)
    return made


def _ids(search: Filter) -> list[int]:
    return [e.id for e in db.session.scalars(audit_log.events(search, WIB))]


@contextmanager
def _statements() -> Iterator[list[tuple[str, tuple]]]:
    seen: list[tuple[str, tuple]] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen.append((statement, tuple(parameters)))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_actor_and_ip_match_exactly_or_by_prefix(app) -> None:
    budi = _event(actor="budi", ip="10.20.0.5")
    budiman = _event(actor="budiman", ip="10.20.1.7")
    other = _event(actor="a_b", ip="10.3.0.1")
    _event(actor="axb", ip="192.168.0.1")
    db.session.commit()

    assert _ids(Filter(actor="budi")) == [budi.id]
    assert _ids(Filter(actor="budi*")) == [budiman.id, budi.id]
    assert _ids(Filter(actor="a_*")) == [other.id]  # _ and % are literal, not wildcards
    assert _ids(Filter(ip="10.20.*")) == [budiman.id, budi.id]
    assert _ids(Filter(ip="10.3.0.1")) == [other.id]


def test_action_target_and_details_text(app) -> None:
    step = _event("request.step", target_type="HostingRequest", target_id="7", details={"step": "telaah"})
    submit = _event("request.submit", target_type="HostingRequest", target_id="8",
                    details={"number": "001/HOST/DISKOMINFO/2026"})
    login = _event("auth.login", target_type="User", target_id="7")
    db.session.commit()

    assert _ids(Filter(action="request.step")) == [step.id]
    assert _ids(Filter(action="request.*")) == [submit.id, step.id]
    assert _ids(Filter(target_type="HostingRequest", target_id="7")) == [step.id]
    assert _ids(Filter(target_id="7")) == [login.id, step.id]
    assert _ids(Filter(text="TELAAH")) == [step.id]
    assert _ids(Filter(text="001/host")) == [submit.id]
    assert _ids(Filter(text="%")) == []


def test_date_range_is_read_as_local_days_in_wib(app) -> None:
    late_evening = _event(at=datetime(2026, 3, 1, 16, 59, tzinfo=UTC))  # 1 March 23.59 WIB
    past_midnight = _event(at=datetime(2026, 3, 1, 17, 0, tzinfo=UTC))  # 2 March 00.00 WIB
    last_minute = _event(at=datetime(2026, 3, 2, 16, 59, 59, tzinfo=UTC))  # 2 March 23.59.59 WIB
    _event(at=datetime(2026, 3, 2, 17, 0, tzinfo=UTC))  # 3 March 00.00 WIB
    db.session.commit()

    second_of_march = Filter.parse({"from": "2026-03-02", "to": "2026-03-02"})
    assert _ids(second_of_march) == [last_minute.id, past_midnight.id]
    assert _ids(Filter.parse({"to": "2026-03-01"})) == [late_evening.id]
    assert len(_ids(Filter.parse({"from": "2026-03-01"}))) == 4


def test_filter_round_trips_through_the_query_string() -> None:
    args = {"actor": "budi*", "action": "request.*", "target_type": "HostingRequest", "target_id": "7",
            "ip": "10.0.0.1", "q": "telaah", "from": "2026-03-01", "to": "2026-03-02"}
    search = Filter.parse({**args, "before": "99", "unknown": "x"})
    assert search.to_args() == args
    assert Filter.parse({}) == Filter() and Filter.parse({"actor": "  "}).to_args() == {}


@pytest.mark.parametrize(("args", "message"), [
    ({"from": "2026-02-30"}, "Dari tanggal tidak valid"),
    ({"to": "kemarin"}, "Sampai tanggal tidak valid"),
    ({"to": "9999-12-31"}, "Sampai tanggal harus antara tahun 1970 dan 2999"),
    ({"from": "0001-01-01"}, "Dari tanggal harus antara tahun 1970 dan 2999"),
    ({"from": "2026-03-05", "to": "2026-03-01"}, "Dari tanggal tidak boleh sesudah sampai tanggal"),
    ({"actor": "x" * 65}, "Pelaku terlalu panjang"),
    ({"before": "abc"}, "Penanda halaman tidak valid"),
    ({"before": "5", "after": "9"}, "Penanda halaman tidak valid"),
])
def test_invalid_filter_is_explained_on_the_page(client, login_as, args, message) -> None:
    login_as(RoleKey.AUDITOR)
    paths = ["/audit"] if "before" in args else ["/audit", "/audit/export.csv"]  # exports ignore pages
    for path in paths:
        response = client.get(path, query_string=args)
        page = response.get_data(as_text=True)
        assert response.status_code == 400
        assert message in page and "Saringan tidak dapat dipakai" in page
        assert response.mimetype == "text/html"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.export")) is None


def test_invalid_filter_lists_every_fault() -> None:
    with pytest.raises(InvalidFilter) as raised:
        Filter.parse({"from": "x", "to": "y"})
    assert len(raised.value.errors) == 2


def test_keyset_pages_walk_both_ways(app) -> None:
    made = [_event(actor=f"user{n}") for n in range(120)]
    _event(actor="lain")
    db.session.commit()
    newest_first = [e.id for e in reversed(made)]
    search = Filter(actor="user*")

    first = audit_log.page(search, WIB)
    assert [e.id for e in first.events] == newest_first[:50]
    assert (first.newer, first.older) == (None, newest_first[49])
    second = audit_log.page(search, WIB, Cursor(before=first.older))
    assert [e.id for e in second.events] == newest_first[50:100]
    assert (second.newer, second.older) == (newest_first[50], newest_first[99])
    last = audit_log.page(search, WIB, Cursor(before=second.older))
    assert [e.id for e in last.events] == newest_first[100:]
    assert (last.newer, last.older) == (newest_first[100], None)

    back = audit_log.page(search, WIB, Cursor(after=last.newer))
    assert [e.id for e in back.events] == newest_first[50:100]
    assert back.newer == newest_first[50] and back.older == newest_first[99]
    start = audit_log.page(search, WIB, Cursor(after=back.newer))
    assert [e.id for e in start.events] == newest_first[:50] and start.newer is None


def test_page_links_carry_the_filter_and_the_cursor(client, login_as) -> None:
    login_as(RoleKey.HEAD)
    made = [_event(action="request.comment", ip="10.0.0.9") for _ in range(60)]
    db.session.commit()

    page = client.get("/audit?action=request.comment").get_data(as_text=True)
    assert f"before={made[10].id}" in page and "action=request.comment" in page
    assert "Berikutnya" in page and "Sebelumnya" not in page
    assert page.count("request.comment</code>") == 50
    assert "10.0.0.9" in page
    older = client.get(f"/audit?action=request.comment&before={made[10].id}").get_data(as_text=True)
    assert older.count("request.comment</code>") == 10
    assert f"after={made[9].id}" in older and "Berikutnya" not in older


def test_a_page_never_counts_the_trail_nor_skips_with_offset(client, login_as) -> None:
    login_as(RoleKey.SUPERADMIN)
    for n in range(120):
        _event(action=f"demo.a{n % 7}")
    db.session.commit()
    with _statements() as seen:
        assert client.get("/audit?before=100&action=demo.*").status_code == 200
        assert client.get("/audit?after=3").status_code == 200
    trail = [(sql.upper(), parameters) for sql, parameters in seen if "audit_events" in sql]
    assert trail and not [sql for sql, _ in trail if "COUNT(" in sql]
    # SQLite writes "OFFSET ?" after every LIMIT; what matters is that nothing is ever skipped.
    assert all(parameters[-1] == 0 for sql, parameters in trail if sql.endswith("OFFSET ?"))


def test_actions_are_listed_once_each_in_order(app) -> None:
    for action in ("request.step", "auth.login", "request.step", "request.submit", "auth.login"):
        _event(action)
    db.session.commit()
    actions = audit_log.actions()
    assert actions == ["auth.login", "request.step", "request.submit"]
    assert audit_log.action_prefixes(actions) == ["auth.*", "request.*"]


def test_details_are_shown_as_key_value(client, login_as) -> None:
    login_as(RoleKey.COORDINATOR)
    _event(details={"step": "telaah", "decision": "ya", "roles": ["head"]})
    db.session.commit()
    page = client.get("/audit?action=request.step").get_data(as_text=True)
    assert 'decision=ya roles=[&#34;head&#34;] step=telaah' in page
    assert audit_log.key_values({"b": 1, "a": "x y", "c": None}) == "a=x y b=1 c=null"


def _csv(response) -> list[list[str]]:  # noqa: ANN001
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_export_streams_the_current_filter_as_csv(client, login_as) -> None:
    login_as(RoleKey.AUDITOR)
    _event("request.submit", actor="opd.dinkes", ip="10.1.1.1", target_type="HostingRequest",
           target_id="3", details={"number": "=HYPERLINK(\"x\")"})
    _event("request.step", actor="kabid", details={"step": "terima_permohonan"},
           at=MORNING + timedelta(minutes=5))
    _event("auth.login", actor="kabid")
    db.session.commit()

    response = client.get("/audit/export.csv?action=request.*")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="log-audit-')
    header, *rows = _csv(response)
    assert header == ["id", "waktu", "pelaku", "aksi", "jenis_target", "id_target", "ip", "rincian"]
    assert [row[2:] for row in rows] == [
        ["kabid", "request.step", "", "", "", "step=terima_permohonan"],
        ["opd.dinkes", "request.submit", "HostingRequest", "3", "10.1.1.1",
         "number==HYPERLINK(\"x\")"],
    ]
    assert rows[0][1] == "2026-03-02T09:05:00+07:00"


def test_export_keeps_formulas_from_running_in_spreadsheets(client, login_as) -> None:
    login_as(RoleKey.AUDITOR)
    _event("request.submit", actor="=cmd|'/c calc'!A1")
    db.session.commit()
    rows = _csv(client.get("/audit/export.csv?actor=%3D*"))
    assert rows[1][2] == "'=cmd|'/c calc'!A1"


def test_export_is_itself_recorded_in_the_trail(client, login_as) -> None:
    auditor = login_as(RoleKey.AUDITOR)
    response = client.get("/audit/export.csv?actor=kabid&from=2026-03-01&to=2026-03-31")
    response.get_data()
    recorded = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.export"))
    assert recorded is not None and recorded.actor_id == auditor.id
    assert recorded.details == {"filter": {"actor": "kabid", "from": "2026-03-01", "to": "2026-03-31"}}


def test_export_reads_the_trail_in_chunks(app) -> None:
    for n in range(25):
        _event(actor=f"user{n}")
    db.session.commit()
    chunks = list(audit_log.csv_chunks(Filter(), WIB, chunk_rows=10))
    assert len(chunks) == 1 + 3  # the header, then one piece per chunk of rows
    assert [chunk.count("\n") for chunk in chunks] == [1, 10, 10, 5]


def test_only_officials_and_auditors_see_the_menu_link(app, client, login_as) -> None:
    login_as(RoleKey.TECHNICIAN)
    assert "Log audit" not in client.get("/").get_data(as_text=True)
    auditor = factories.user([RoleKey.AUDITOR])
    db.session.commit()
    assert "Log audit" in signed_in(app, auditor).get("/").get_data(as_text=True)
