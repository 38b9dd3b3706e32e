"""What the busiest pages cost as the data grows: the dashboard (`/`), the request list (`/requests`)
and the application inventory (`/apps`), each loaded by a technician (who sees every OPD) and by an
OPD admin (who sees their own).

Two throwaway panels on SQLite files: a small one (10 apps, 10 requests) and a large one (2,000 apps,
500 requests with their SOP steps, some overdue, 50,000 audit events). For each page and user: the
SQL statements one load takes on each (it must not grow with the rows), and on the large one the
server time per load, p50 and p95, as a ratio to a trivial endpoint (`/api/v1/health`) measured
interleaved with it. The exit status is non-zero if any page's statement count grows.
"""
from __future__ import annotations

import contextlib
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from common import figure
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, insert, select

from panel import create_app, database
from panel.extensions import db
from panel.models import (
    App,
    AppStatus,
    Artifact,
    AuditEvent,
    Host,
    HostingRequest,
    HostStatus,
    Opd,
    Release,
    ReleaseStatus,
    RequestStatus,
    RequestStep,
    RoleKey,
    ScanReport,
    SopTemplateVersion,
    Stack,
    User,
    Verdict,
    user_roles,
)
from panel.services.accounts import accounts, passwords
from panel.services.requests import sop, workflow

PAGES = (("main.dashboard", "/"), ("requests.index", "/requests"), ("apps.index", "/apps"))
TRIVIAL = "/api/v1/health"
SMALL = {"apps": 10, "requests": 10, "audit_events": 250}
LARGE = {"apps": 2000, "requests": 500, "audit_events": 50_000}
OPDS, HOSTS = 40, 3
LOADS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
WARM_UP = 20
PASSWORD = "bench-correct-horse-battery"
TEMPLATE = "muara_enim"
DATA_CENTER_STAFF = (RoleKey.TECHNICIAN, RoleKey.COORDINATOR, RoleKey.HEAD, RoleKey.AUDITOR,
                     RoleKey.SUPERADMIN)
# How the requests are spread over their statuses (weights); the open ones have a step running.
REQUEST_STATUSES = {RequestStatus.SUBMITTED: 3, RequestStatus.IN_PROGRESS: 5,
                    RequestStatus.NEEDS_CORRECTION: 1, RequestStatus.REJECTED: 1,
                    RequestStatus.DEPLOYED: 4, RequestStatus.CLOSED: 6}
APP_STATUSES = {AppStatus.RUNNING: 16, AppStatus.STOPPED: 1, AppStatus.FAILED: 1, AppStatus.REMOVED: 1,
                AppStatus.DEPLOYING: 1}
VERDICTS = {Verdict.CLEAN: 18, Verdict.REVIEW: 2}
AUDIT_ACTIONS = ("auth.login", "request.submit", "request.step", "scan.finish", "app.deploy",
                 "user.create", "auth.logout")


# Who loads the pages: a technician sees every OPD; OPD 1's admin sees their own (seed_* fill OPD 1).
SIGN_IN_AS = {"technician": RoleKey.TECHNICIAN.value, "opd_admin": "admin-opd01"}


@dataclass
class Panel:
    """A throwaway panel on its own seeded SQLite file, and the SQL statements it has run."""

    app: Flask
    statements: list[str]


def weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def make_panel(root: Path, schema: Path, name: str) -> Flask:
    """Create a panel app on a copy of the migrated `schema` (what tests/panel/conftest.py does)."""
    folder = root / name
    folder.mkdir()
    shutil.copy(schema, folder / "wadah.db")
    return create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "SECRETS_KEY": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'wadah.db'}",
        "ARTIFACT_DIR": str(folder / "artifacts"),
        "ATTACHMENT_DIR": str(folder / "attachments"),
        "JOBS_BACKEND": f"sqlite:///{folder / 'jobs.db'}",
        "JOBS_IMMEDIATE": True,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "RATELIMIT_ENABLED": False,
    })


def seed(size: dict[str, int], rng: random.Random) -> None:
    """Bulk-insert OPDs, users, hosts, requests with their steps, apps and the audit trail."""
    now = datetime.now(UTC)
    workflow.ensure_builtin_templates()
    db.session.execute(insert(Opd), [
        {"id": n, "code": f"OPD{n:02d}", "name": f"Dinas Contoh {n:02d}", "created_at": now}
        for n in range(1, OPDS + 1)])
    people = seed_people(now)
    db.session.execute(insert(Host), [
        {"id": n, "name": f"node-{n}", "agent_url": f"https://node-{n}.contoh.go.id:8443",
         "status": HostStatus.ONLINE, "facts": {}, "created_at": now} for n in range(1, HOSTS + 1)])
    deployed = seed_requests(size["requests"], now, rng)
    seed_apps(size["apps"], deployed, now, rng)
    db.session.execute(insert(AuditEvent), [
        {"at": now - timedelta(seconds=rng.randint(0, 365 * 86400)), "actor_id": person["id"],
         "actor": person["username"], "action": rng.choice(AUDIT_ACTIONS), "target_type": "HostingRequest",
         "target_id": str(rng.randint(1, size["requests"])), "ip": "10.0.0.1", "details": {}}
        for person in (rng.choice(people) for _ in range(size["audit_events"]))])
    db.session.commit()


def seed_people(now: datetime) -> list[dict[str, Any]]:
    """One user per data-center role and one OPD admin per OPD (`admin-opd01` is the one measured)."""
    by_key = accounts.ensure_roles()
    db.session.flush()
    password_hash = passwords.hash_password(PASSWORD)
    staff = [{"id": n, "username": role.value, "opd_id": None, "role": role}
             for n, role in enumerate(DATA_CENTER_STAFF, start=1)]
    admins = [{"id": len(staff) + opd, "username": f"admin-opd{opd:02d}", "opd_id": opd,
               "role": RoleKey.OPD_ADMIN} for opd in range(1, OPDS + 1)]
    people = staff + admins
    db.session.execute(insert(User), [
        {"id": p["id"], "username": p["username"], "full_name": f"Pengguna {p['username']}", "email": None,
         "password_hash": password_hash, "opd_id": p["opd_id"], "active": True,
         "must_change_password": False, "failed_logins": 0, "created_at": now} for p in people])
    db.session.execute(insert(user_roles), [{"user_id": p["id"], "role_id": by_key[p["role"]].id}
                                            for p in people])
    return people


def seed_requests(count: int, now: datetime, rng: random.Random) -> list[int]:
    """File `count` requests with the steps they went through; return the ids of the deployed ones.

    The first few belong to OPD 1, one in each status, with open steps for every kind of user and
    overdue ones: so even the small database fills every list the measured users see.
    """
    template = db.session.scalar(select(SopTemplateVersion).where(SopTemplateVersion.key == TEMPLATE))
    assert template is not None
    steps = sop.parse(template.definition).steps
    technician_step = next(i for i, step in enumerate(steps) if step.role == RoleKey.TECHNICIAN)
    # (status, index of the open step or None, whether that step is overdue)
    first = [(RequestStatus.NEEDS_CORRECTION, 0, True), (RequestStatus.SUBMITTED, 1, True),
             (RequestStatus.IN_PROGRESS, technician_step, True),
             (RequestStatus.IN_PROGRESS, technician_step + 1, False), (RequestStatus.DEPLOYED, None, False),
             (RequestStatus.CLOSED, None, False), (RequestStatus.REJECTED, None, False)]
    requests, request_steps = [], []
    for n in range(1, count + 1):
        if n <= len(first):
            opd, (status, open_at, overdue) = 1, first[n - 1]
        else:
            opd, status, overdue = rng.randint(1, OPDS), weighted(rng, REQUEST_STATUSES), rng.random() < 0.4
            open_at = {RequestStatus.NEEDS_CORRECTION: 0, RequestStatus.SUBMITTED: 1,
                       RequestStatus.IN_PROGRESS: rng.randint(2, len(steps) - 1)}.get(status)
        submitted = now - timedelta(days=rng.randint(1, 300), minutes=rng.randint(0, 1440))
        requests.append({
            "id": n, "number": f"{n:03d}/HOST/DISKOMINFO/2026", "year": 2026, "seq": n, "opd_id": opd,
            "submitted_by_id": len(DATA_CENTER_STAFF) + opd, "app_name": f"Aplikasi {n}",
            "description": "", "subdomain": f"permohonan{n}", "stack": Stack.PHP,
            "contact": f"Pengelola {n}, 0812{n:07d}", "template_version_id": template.id,
            "status": status, "current_step": steps[open_at].key if open_at is not None else None,
            "created_at": submitted, "submitted_at": submitted})
        walked = steps if open_at is None else steps[:open_at + 1]
        started = submitted
        for index, step in enumerate(walked):
            running = index == open_at
            if running:
                started = now - timedelta(minutes=4000 if overdue else 1)
            request_steps.append({
                "request_id": n, "step_key": step.key, "role": step.role,
                "due_minutes": int(step.waktu.total_seconds() // 60) if step.waktu else None,
                "started_at": started, "actor_id": None if running else len(DATA_CENTER_STAFF) + opd,
                "finished_at": None if running else started + timedelta(minutes=rng.randint(1, 90))})
            started += timedelta(minutes=90)
    db.session.execute(insert(HostingRequest), requests)
    db.session.execute(insert(RequestStep), request_steps)
    return [r["id"] for r in requests if r["status"] in (RequestStatus.DEPLOYED, RequestStatus.CLOSED)]


def seed_apps(count: int, deployed: list[int], now: datetime, rng: random.Random) -> None:
    """Host `count` apps, each with a scanned bundle and a live release; the first ones in OPD 1."""
    apps, artifacts, reports, releases = [], [], [], []
    first = list(AppStatus)
    for n in range(1, count + 1):
        sha256 = f"{n:064x}"
        hosted = now - timedelta(days=rng.randint(1, 700))
        apps.append({
            "id": n, "name": f"app{n:04d}", "subdomain": f"app{n:04d}", "zone": "contoh.go.id",
            "opd_id": 1 if n <= len(first) else rng.randint(1, OPDS),
            "request_id": deployed[n - 1] if n <= len(deployed) else None,
            "host_id": rng.randint(1, HOSTS), "stack": rng.choice(list(Stack)),
            "status": first[n - 1] if n <= len(first) else weighted(rng, APP_STATUSES), "ip": None,
            "created_at": hosted})
        artifacts.append({"sha256": sha256, "size": 1024 * n, "original_name": f"app{n}.zip",
                          "created_at": hosted})
        reports.append({"id": n, "artifact_sha256": sha256, "verdict": weighted(rng, VERDICTS),
                        "report": {}, "started_at": hosted, "finished_at": hosted})
        releases.append({"app_id": n, "number": 1, "artifact_sha256": sha256, "scan_report_id": n,
                         "status": ReleaseStatus.LIVE, "created_at": hosted, "deployed_at": hosted})
    db.session.execute(insert(App), apps)
    db.session.execute(insert(Artifact), artifacts)
    db.session.execute(insert(ScanReport), reports)
    db.session.execute(insert(Release), releases)


def seeded_panel(root: Path, schema: Path, name: str, size: dict[str, int]) -> Panel:
    app = make_panel(root, schema, name)
    statements: list[str] = []
    with app.app_context():
        seed(size, random.Random(name))

        def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
    return Panel(app, statements)


def signed_in(panel: Panel, username: str) -> FlaskClient:
    client = panel.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "no CSRF token on /login"
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": token.group(1)})
    assert response.status_code == 302, f"{username} could not sign in: {response.status_code}"
    return client


def load(client: FlaskClient, path: str) -> float:
    """GET `path`; return the seconds it took (raise unless it answered 200)."""
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, f"{path}: {response.status_code}"
    return elapsed


def statements_per_load(panel: Panel, client: FlaskClient, path: str) -> int:
    load(client, path)  # warm: templates compiled, caches filled
    panel.statements.clear()
    load(client, path)
    return len(panel.statements)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def timings(client: FlaskClient, path: str) -> tuple[list[float], list[float]]:
    """Time `path` and the trivial endpoint, interleaved, LOADS times each after a warm-up."""
    for _ in range(WARM_UP):
        load(client, path)
        load(client, TRIVIAL)
    page, trivial = [], []
    for _ in range(LOADS):
        page.append(load(client, path))
        trivial.append(load(client, TRIVIAL))
    return page, trivial


@contextlib.contextmanager
def scratch() -> Iterator[tuple[Path, Path]]:
    """Yield a scratch directory and a database file migrated to head inside it."""
    root = Path(tempfile.mkdtemp(prefix="wadah-bench-pages-"))
    try:
        schema = root / "schema.db"
        database.upgrade(f"sqlite:///{schema}")
        yield root, schema
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    # Minimal Argon2 cost: dozens of users are made and signed in, none is attacked.
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with scratch() as (root, schema):
        started = time.monotonic()
        small = seeded_panel(root, schema, "small", SMALL)
        large = seeded_panel(root, schema, "large", LARGE)
        figure("pages_seed", time.monotonic() - started, "s",
               f"{LARGE['apps']} apps, {LARGE['requests']} requests, {LARGE['audit_events']} audit events")

        rows, grown = [], []
        for who, username in SIGN_IN_AS.items():
            small_client, large_client = signed_in(small, username), signed_in(large, username)
            for endpoint, path in PAGES:
                few = statements_per_load(small, small_client, path)
                many = statements_per_load(large, large_client, path)
                page, trivial = timings(large_client, path)
                rows.append((endpoint, who, few, many, page, trivial))
                if many > few:
                    grown.append(f"{endpoint} as {who}: {few} → {many}")

    header = (f"{'page':<16} {'signed in as':<12} {'SQL@10':>7} {'SQL@2000':>9} {'p50 ms':>8} {'p95 ms':>8}"
              f" {'p50/trivial':>12} {'p95/trivial':>12}")
    print(f"\n{header}\n{'-' * len(header)}")
    for endpoint, who, few, many, page, trivial in rows:
        print(f"{endpoint:<16} {who:<12} {few:>7} {many:>9} {statistics.median(page) * 1000:>8.2f}"
              f" {p95(page) * 1000:>8.2f} {statistics.median(page) / statistics.median(trivial):>11.1f}x"
              f" {p95(page) / p95(trivial):>11.1f}x")
    trivial_all = [t for *_, trivial in rows for t in trivial]
    print(f"{TRIVIAL:<16} {'(both)':<12} {'':>7} {'':>9} {statistics.median(trivial_all) * 1000:>8.2f}"
          f" {p95(trivial_all) * 1000:>8.2f}")
    print(f"\n{LOADS} timed loads per page after {WARM_UP} warm-up loads, on the 2,000-app database;"
          " each ratio against the trivial endpoint's loads interleaved with that page's.")
    if grown:
        print("SQL statements grow with the rows: " + "; ".join(grown), file=sys.stderr)
        return 1
    print("SQL statements per page: constant between 10 and 2,000 apps.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
