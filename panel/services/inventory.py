"""What a user may count and list: the hosted apps and requests in their view."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from panel.extensions import db
from panel.models import App, AppStatus, HostingRequest, RequestStatus, User
from panel.permissions import visible_apps, visible_requests

OPEN_REQUEST_STATUSES = (
    RequestStatus.SUBMITTED, RequestStatus.IN_PROGRESS, RequestStatus.NEEDS_CORRECTION,
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
