"""What a user may count and list: the hosted apps and requests in their view."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import CompoundSelect, Select, and_, func, or_, select, union_all
from sqlalchemy.orm import aliased, selectinload

from panel.extensions import db
from panel.models import (
    App,
    AppStatus,
    Host,
    HostingRequest,
    Opd,
    Release,
    ReleaseStatus,
    RequestStatus,
    ScanReport,
    User,
    Verdict,
)
from panel.permissions import DATA_CENTER_ROLES, visible_apps, visible_requests

OPEN_REQUEST_STATUSES = (
    RequestStatus.SUBMITTED, RequestStatus.IN_PROGRESS, RequestStatus.NEEDS_CORRECTION,
    RequestStatus.DEPLOYED,  # its reporting steps are still open
)


@dataclass(frozen=True)
class Summary:
    apps_running: int
    apps_total: int
    requests_open: int


def summary_for(user: User) -> Summary:
    """Count the apps and open requests visible to `user`."""
    apps_by_status = dict(
        db.session.execute(
            select(App.status, func.count()).where(visible_apps(user)).group_by(App.status)
        ).all()
    )
    open_requests = select(func.count()).select_from(HostingRequest).where(
        visible_requests(user), HostingRequest.status.in_(OPEN_REQUEST_STATUSES)
    )
    return Summary(
        apps_running=apps_by_status.get(AppStatus.RUNNING, 0),
        apps_total=sum(n for status, n in apps_by_status.items() if status != AppStatus.REMOVED),
        requests_open=db.session.scalar(open_requests) or 0,
    )


APPS_PER_PAGE = 25
# Releases that were running at some point: the current one, and the ones it replaced.
EVER_LIVE = (ReleaseStatus.LIVE, ReleaseStatus.RETIRED)
# Made once: an alias memoises its column adaptation, which costs more than the query itself.
LatestRelease = aliased(Release, name="latest_release")
AppRequest = aliased(HostingRequest, name="app_request")
Filer = aliased(User, name="filer")


@dataclass(frozen=True)
class AppFilters:
    """What the inventory is narrowed to; None or an empty text means no narrowing."""

    opd_id: int | None = None
    stack: str | None = None
    status: str | None = None
    host_id: int | None = None
    text: str = ""

    @property
    def active(self) -> bool:
        return any((self.opd_id, self.stack, self.status, self.host_id, self.text))


@dataclass(frozen=True)
class InventoryRow:
    app: App
    contact: str  # the request's contact, else whoever filed it; empty for an app with no request
    first_hosted_at: datetime | None  # when its first release went live
    latest_release: Release | None
    last_verdict: Verdict | None  # the newest scan of any bundle the app was given


@dataclass(frozen=True)
class InventoryPage:
    pagination: Pagination
    rows: list[InventoryRow]


def inventory_query(user: User, filters: AppFilters) -> Select[App]:
    """Return the apps visible to `user` that match `filters`, by name; removed apps only when asked."""
    query = select(App).where(visible_apps(user)).order_by(App.name, App.id)
    if filters.status:
        query = query.where(App.status == filters.status)
    else:
        query = query.where(App.status != AppStatus.REMOVED)
    if filters.opd_id:
        query = query.where(App.opd_id == filters.opd_id)
    if filters.stack:
        query = query.where(App.stack == filters.stack)
    if filters.host_id:
        query = query.where(App.host_id == filters.host_id)
    if filters.text:
        query = query.where(or_(App.name.icontains(filters.text, autoescape=True),
                                App.subdomain.icontains(filters.text, autoescape=True)))
    return query


def inventory_page(user: User, filters: AppFilters, page: int = 1,
                   per_page: int = APPS_PER_PAGE) -> InventoryPage:
    """Return one page of the inventory for `user`, in a fixed number of statements."""
    query = inventory_query(user, filters).options(selectinload(App.opd), selectinload(App.host))
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    apps: list[App] = list(pagination.items)
    facts = {row.id: row for row in db.session.execute(facts_query([app.id for app in apps]))}
    rows = []
    for app in apps:
        fact = facts[app.id]
        rows.append(InventoryRow(app=app, contact=contact_of(fact.contact, fact.filer, fact.filer_email),
                                 first_hosted_at=fact.first_hosted_at, latest_release=fact.latest_release,
                                 last_verdict=fact.last_verdict))
    return InventoryPage(pagination, rows)


def facts_query(app_ids: Sequence[int] | Select[int]) -> Select[*tuple[Any, ...]]:
    """Per app: its latest release, when it first went live, its newest scan verdict and its contact."""
    newest_number = (select(func.max(Release.number)).where(Release.app_id == App.id)
                     .correlate(App).scalar_subquery())
    first_hosted_at = (select(func.min(Release.deployed_at))
                       .where(Release.app_id == App.id, Release.status.in_(EVER_LIVE))
                       .correlate(App).scalar_subquery())
    bundles: CompoundSelect[str | None] = union_all(
        select(Release.artifact_sha256).where(Release.app_id == App.id).correlate(App),
        select(HostingRequest.artifact_sha256).where(HostingRequest.id == App.request_id).correlate(App),
    )
    last_verdict = (select(ScanReport.verdict).where(ScanReport.artifact_sha256.in_(bundles))
                    .order_by(ScanReport.id.desc()).limit(1).correlate(App).scalar_subquery())
    return (
        select(App.id, LatestRelease, first_hosted_at.label("first_hosted_at"),
               last_verdict.label("last_verdict"), AppRequest.contact,
               Filer.full_name.label("filer"), Filer.email.label("filer_email"))
        .select_from(App)
        .outerjoin(LatestRelease, and_(LatestRelease.app_id == App.id, LatestRelease.number == newest_number))
        .outerjoin(AppRequest, AppRequest.id == App.request_id)
        .outerjoin(Filer, Filer.id == AppRequest.submitted_by_id)
        .where(App.id.in_(app_ids))
    )


def contact_of(contact: str | None, filer: str | None, filer_email: str | None) -> str:
    """Return who to contact about an app: the request's contact, else whoever filed it."""
    if contact:
        return contact
    return ", ".join(part for part in (filer, filer_email) if part)


def opd_choices(user: User) -> list[Opd]:
    """Return the OPDs `user` may narrow the inventory to: all of them for data-center roles, else none."""
    if not user.has_role(*DATA_CENTER_ROLES):
        return []
    return list(db.session.scalars(select(Opd).order_by(Opd.name)))


def host_choices(user: User) -> list[Host]:
    """Return the hosts running at least one app visible to `user`."""
    running = select(App.host_id).where(visible_apps(user), App.host_id.is_not(None))
    return list(db.session.scalars(select(Host).where(Host.id.in_(running)).order_by(Host.name)))
