"""Who may use which route, declared on the route and enforced in one place. The default is no.

Every view is wrapped by one of `public`, `login_required`, `own_account` or `require_role`; `enforce`
runs before each request and refuses any endpoint that declared nothing. A user who holds only
read-only roles (the auditor) is refused every request that could change something (any method but
GET/HEAD/OPTIONS) except on their own account, whatever the route declared.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import ColumnElement, false, true

from panel.models import App, HostingRequest, RoleKey, User

View = TypeVar("View", bound=Callable[..., Any])

# Roles that read across every agency; everyone else sees only their own OPD's data.
DATA_CENTER_ROLES = frozenset(
    {RoleKey.TECHNICIAN, RoleKey.COORDINATOR, RoleKey.HEAD, RoleKey.AUDITOR, RoleKey.SUPERADMIN}
)
# Roles that may change an app through its Web Panel (each still only the apps `require_app_access`
# lets through); the officials and auditors among the data-center roles only read it.
APP_MANAGERS = (RoleKey.APP_ACCOUNT, RoleKey.OPD_ADMIN, RoleKey.TECHNICIAN, RoleKey.SUPERADMIN)
# Who sets how often an app is backed up: it takes room on the data center's disks.
BACKUP_SCHEDULERS = (RoleKey.TECHNICIAN, RoleKey.SUPERADMIN)
# Who releases or deletes what a host's agent quarantined in an app's data.
FINDING_HANDLERS = (RoleKey.TECHNICIAN, RoleKey.SUPERADMIN)
# Roles that take part in a request's process: they act on its steps (each only on its own, see
# `workflow.act`) and write in its coordination thread. The auditor only reads it.
REQUEST_PARTICIPANTS = (RoleKey.OPD_ADMIN, RoleKey.TECHNICIAN, RoleKey.COORDINATOR, RoleKey.HEAD,
                        RoleKey.SUPERADMIN)
# Roles that never change anything but their own account (sign-out, password, second factor, tokens).
READ_ONLY_ROLES = frozenset({RoleKey.AUDITOR})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    login: bool
    roles: frozenset[str] = frozenset()  # empty: any signed-in user
    own_account: bool = False  # changes only the signed-in user's own account


def _declare(access: Access) -> Callable[[View], View]:
    def mark(view: View) -> View:
        view.wadah_access = access  # type: ignore[attr-defined]
        return view

    return mark


public = _declare(Access(login=False))
login_required = _declare(Access(login=True))
# Any signed-in user, acting on their own account only: the one kind of write a read-only role may make.
own_account = _declare(Access(login=True, own_account=True))


def require_role(*roles: RoleKey) -> Callable[[View], View]:
    """Allow the view to users holding at least one of `roles`."""
    return _declare(Access(login=True, roles=frozenset(roles)))


def access_of(endpoint: str | None) -> Access | None:
    """Return what the view behind `endpoint` declared, or None if it declared nothing."""
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, "wadah_access", None)


def only_reads(user: User) -> bool:
    """Return True if `user` holds no role that may change anything beyond their own account."""
    return user.role_keys <= READ_ONLY_ROLES


def can_see_opd(user: User, opd_id: int | None) -> bool:
    return user.has_role(*DATA_CENTER_ROLES) or (opd_id is not None and user.opd_id == opd_id)


def visible_apps(user: User) -> ColumnElement[bool]:
    """Return the filter selecting the apps `user` may see."""
    if user.has_role(*DATA_CENTER_ROLES):
        return true()
    if user.app_account is not None:
        return App.id == user.app_account.app_id
    return App.opd_id == user.opd_id


def visible_requests(user: User) -> ColumnElement[bool]:
    """Return the filter selecting the hosting requests `user` may see."""
    if user.has_role(*DATA_CENTER_ROLES):
        return true()
    if user.app_account is not None:
        return false()
    return HostingRequest.opd_id == user.opd_id


def require_request_access(hosting_request: HostingRequest) -> HostingRequest:
    """Return the request if the current user may see it; otherwise answer 404 so nothing leaks."""
    user: User = current_user  # type: ignore[assignment]
    if user.app_account is not None or not can_see_opd(user, hosting_request.opd_id):
        abort(404)
    return hosting_request


def require_app_access(app: App) -> App:
    """Return `app` if the current user may manage it; otherwise answer 404 so nothing leaks."""
    user: User = current_user  # type: ignore[assignment]
    account = user.app_account
    if account is not None:
        allowed = account.app_id == app.id
    else:
        allowed = can_see_opd(user, app.opd_id)
    if not allowed:
        abort(404)
    return app


def enforce(app: Flask) -> None:
    """Refuse every request whose route is not allowed to the current user."""

    @app.before_request
    def _check_access() -> Any:
        # 404 / 405 are answered by Flask itself; the vendored stylesheet and scripts are public.
        if request.endpoint in (None, "static"):
            return None
        access = access_of(request.endpoint)
        if access is None:
            abort(403)
        if not access.login:
            return None
        if not current_user.is_authenticated:
            if request.blueprint == "api":
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path))
        if access.roles and not current_user.has_role(*access.roles):
            abort(403)
        # Checked here as well as in each route's roles, so a write route that forgets the auditor
        # still cannot be used by one.
        if request.method not in SAFE_METHODS and not access.own_account and only_reads(current_user):
            abort(403)
        return None
