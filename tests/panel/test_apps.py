"""The application inventory: who sees which app, the filters, the pages and the per-app facts."""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import g
from flask.testing import FlaskClient
from sqlalchemy import event

from panel.extensions import db
from panel.models import AppAccount, AppStatus, Host, ReleaseStatus, RoleKey, Stack, Verdict
from panel.services.apps import inventory
from tests.panel import factories


def names(page: str) -> list[str]:
    """Return the app names listed on an inventory page, in order."""
    return re.findall(r"<td>(\S+)<br><span class=\"muted\">", page)


def inventory_of(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/apps{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def host(name: str) -> Host:
    made = Host(name=name, agent_url=f"https://{name}.contoh.go.id:8443")
    db.session.add(made)
    db.session.flush()
    return made


@contextlib.contextmanager
def counting_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


# Visibility

def test_data_center_roles_see_every_opds_apps(client, login_as) -> None:
    factories.app(name="simpeg")
    factories.app(name="sipd")
    login_as(RoleKey.AUDITOR)
    assert names(inventory_of(client)) == ["simpeg", "sipd"]


def test_opd_admin_never_sees_another_opds_app(client, login_as) -> None:
    admin = login_as(RoleKey.OPD_ADMIN)
    factories.app(owner=admin.opd, name="simpeg")
    other = factories.app(name="sipd")
    db.session.commit()
    assert names(inventory_of(client)) == ["simpeg"]
    # Asking for the other OPD by its id shows nothing of it.
    page = inventory_of(client, f"?opd={other.opd_id}")
    assert "sipd" not in page
    assert "Tidak ada aplikasi yang cocok" in page
    assert 'name="opd"' not in inventory_of(client)  # no OPD filter offered


def test_app_account_sees_only_its_own_app(client, login_as) -> None:
    own = factories.app(name="simpeg")
    factories.app(owner=own.opd, name="sikd")  # same OPD, another app
    user = login_as(RoleKey.APP_ACCOUNT, opd=own.opd)
    db.session.add(AppAccount(user=user, app=own))
    db.session.commit()
    assert names(inventory_of(client)) == ["simpeg"]


def test_host_filter_offers_only_hosts_of_visible_apps(client, login_as) -> None:
    admin = login_as(RoleKey.OPD_ADMIN)
    factories.app(owner=admin.opd, name="simpeg", host=host("node-a"))
    factories.app(name="sipd", host=host("node-b"))
    db.session.commit()
    page = inventory_of(client)
    assert "node-a" in page
    assert "node-b" not in page


# Filters

def test_filters_by_opd_stack_status_host_and_text(client, login_as) -> None:
    node_a, node_b = host("node-a"), host("node-b")
    simpeg = factories.app(name="simpeg", subdomain="kepegawaian", stack=Stack.PHP, host=node_a,
                           status=AppStatus.RUNNING)
    factories.app(owner=simpeg.opd, name="portal", subdomain="portal-dinas", stack=Stack.STATIC,
                  host=node_b, status=AppStatus.STOPPED)
    factories.app(name="sipd", subdomain="sipd", stack=Stack.PHP, host=node_b, status=AppStatus.RUNNING)
    login_as(RoleKey.TECHNICIAN)
    assert names(inventory_of(client, f"?opd={simpeg.opd_id}")) == ["portal", "simpeg"]
    assert names(inventory_of(client, "?stack=php")) == ["simpeg", "sipd"]
    assert names(inventory_of(client, "?status=stopped")) == ["portal"]
    assert names(inventory_of(client, f"?host={node_b.id}")) == ["portal", "sipd"]
    assert names(inventory_of(client, "?q=PEGAWAI")) == ["simpeg"]  # subdomain, any case
    assert names(inventory_of(client, "?q=sip")) == ["sipd"]  # name
    assert names(inventory_of(client, f"?stack=php&host={node_b.id}")) == ["sipd"]
    assert names(inventory_of(client, "?stack=cobol")) == ["portal", "simpeg", "sipd"]  # unknown: ignored


def test_text_search_matches_wildcards_literally(client, login_as) -> None:
    factories.app(name="simpeg")
    login_as(RoleKey.TECHNICIAN)
    page = inventory_of(client, "?q=%25")
    assert names(page) == []
    assert "Tidak ada aplikasi yang cocok dengan saringan ini." in page


def test_removed_apps_are_listed_only_when_asked_for(client, login_as) -> None:
    factories.app(name="simpeg")
    factories.app(name="lama", status=AppStatus.REMOVED)
    login_as(RoleKey.TECHNICIAN)
    assert names(inventory_of(client)) == ["simpeg"]
    assert names(inventory_of(client, "?status=removed")) == ["lama"]


def test_empty_inventory_says_so(client, login_as) -> None:
    login_as(RoleKey.OPD_ADMIN)
    assert "Belum ada aplikasi yang di-hosting." in inventory_of(client)


# Pagination

def test_pages_keep_the_filters(client, login_as) -> None:
    owner = factories.opd()
    for n in range(30):
        factories.app(owner=owner, name=f"app-{n:02d}", stack=Stack.PHP)
    factories.app(owner=owner, name="app-static", stack=Stack.STATIC)
    login_as(RoleKey.TECHNICIAN)
    first = inventory_of(client, "?stack=php")
    assert names(first) == [f"app-{n:02d}" for n in range(25)]
    assert "Halaman 1 dari 2" in first
    assert "/apps?page=2&amp;stack=php" in first
    second = inventory_of(client, "?stack=php&page=2")
    assert names(second) == [f"app-{n:02d}" for n in range(25, 30)]
    assert "/apps?page=1&amp;stack=php" in second


def test_a_page_past_the_end_is_empty(client, login_as) -> None:
    factories.app(name="simpeg")
    login_as(RoleKey.TECHNICIAN)
    assert names(inventory_of(client, "?page=9")) == []


# What each row says

def at(day: int) -> datetime:
    return datetime(2026, 3, day, 3, 0, tzinfo=UTC)


def test_latest_release_first_hosting_and_last_verdict(app, client, login_as) -> None:
    filed = factories.hosting_request(contact="Budi, 0812-1111-2222")
    simpeg = factories.app(owner=filed.opd, name="simpeg", request_id=filed.id, status=AppStatus.RUNNING)
    factories.release(simpeg, status=ReleaseStatus.FAILED, created_at=at(1))
    factories.release(simpeg, status=ReleaseStatus.RETIRED, deployed_at=at(2))
    factories.release(simpeg, status=ReleaseStatus.LIVE, deployed_at=at(5), verdict=Verdict.REVIEW)
    # A newer bundle, scanned but never released, is the last verdict.
    newer = factories.scan_report(Verdict.INFECTED)
    filed.artifact_sha256 = newer.artifact_sha256
    quiet = factories.app(name="sipd")
    db.session.commit()
    admin = factories.user([RoleKey.TECHNICIAN])

    rows = {row.app.name: row for row in inventory.inventory_page(admin, inventory.AppFilters()).rows}
    assert rows["simpeg"].latest_release is not None
    assert rows["simpeg"].latest_release.number == 3
    assert rows["simpeg"].first_hosted_at.replace(tzinfo=UTC) == at(2)  # the failed one never ran
    assert rows["simpeg"].last_verdict == Verdict.INFECTED
    assert rows["simpeg"].contact == "Budi, 0812-1111-2222"
    assert (rows["sipd"].latest_release, rows["sipd"].first_hosted_at, rows["sipd"].last_verdict,
            rows["sipd"].contact) == (None, None, None, "")

    login_as(RoleKey.TECHNICIAN)
    page = inventory_of(client)
    row = page[page.index("simpeg"):page.index(quiet.fqdn)]
    assert "Rilis ke-3" in row
    assert "5 Maret 2026 10.00 WIB" in row
    assert "2 Maret 2026 10.00 WIB" in row
    assert 'class="badge verdict-infected">Terinfeksi<' in row
    assert 'class="badge badge-app-running">Berjalan<' in row
    assert "Budi, 0812-1111-2222" in row
    assert filed.opd.name in row


def test_the_last_release_is_the_newest_even_when_it_failed(client, login_as) -> None:
    simpeg = factories.app(name="simpeg")
    factories.release(simpeg, status=ReleaseStatus.LIVE, deployed_at=at(2))
    factories.release(simpeg, status=ReleaseStatus.FAILED, created_at=at(9))
    login_as(RoleKey.TECHNICIAN)
    page = inventory_of(client)
    assert "Rilis ke-2" in page
    assert "9 Maret 2026 10.00 WIB · gagal" in page


def test_contact_falls_back_to_whoever_filed_the_request(client, login_as) -> None:
    filed = factories.hosting_request(contact="")
    filed.submitted_by.full_name, filed.submitted_by.email = "Siti Aminah", "siti@contoh.go.id"
    factories.app(owner=filed.opd, name="simpeg", request_id=filed.id)
    login_as(RoleKey.TECHNICIAN)
    assert "Siti Aminah, siti@contoh.go.id" in inventory_of(client)


# Cost

def seed(count: int) -> None:
    """Add `count` running apps, each with its own OPD, request, host and two releases."""
    for _ in range(count):
        filed = factories.hosting_request()
        made = factories.app(owner=filed.opd, request_id=filed.id, status=AppStatus.RUNNING)
        made.host = host(f"node-{made.name}")
        factories.release(made, deployed_at=at(1))
        factories.release(made, deployed_at=at(2))
    db.session.commit()


def statements_for_inventory(client: FlaskClient) -> int:
    # Nothing cached from seeding or signing in: every load the page needs is counted.
    db.session.remove()
    g.pop("_login_user", None)
    with counting_statements() as statements:
        inventory_of(client)
    return len(statements)


def test_statement_count_does_not_grow_with_apps(client, login_as) -> None:
    login_as(RoleKey.TECHNICIAN)
    seed(3)
    few = statements_for_inventory(client)
    seed(27)
    many = statements_for_inventory(client)
    assert few == many, f"{few} statements for 3 apps, {many} for 30"


def test_statement_count_for_an_opd_admin_does_not_grow_with_apps(client, login_as) -> None:
    admin = login_as(RoleKey.OPD_ADMIN)
    factories.app(owner=admin.opd, host=host("node-own"))
    seed(3)
    few = statements_for_inventory(client)
    seed(27)
    assert statements_for_inventory(client) == few
