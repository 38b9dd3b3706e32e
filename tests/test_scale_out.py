"""The panel as production runs it on more than one process: PostgreSQL, Redis, two `wadah web` and
two `wadah worker` processes sharing one instance file, and a real agent.

Two OPD requests go through the SOP over the JSON API, each call sent to the other web process
than the last; their jobs are consumed from the one Redis queue by both workers, each exactly once,
and the apps answer through nginx. A sign-in limit reached on one web process holds on the other.
"""
from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from panel import config as configuration
from tests.panel import flow
from tests.panel.agent import free_port, running_agent
from tests.panel.factories import MINIMAL_PDF
from tests.support import fetch, unavailable
from tests.test_fresh_install import Api, multipart, wadah

pytestmark = pytest.mark.slow

READY_WAIT_S = 60
CLAIM_KEY = "wadah-uji:klaim"  # marks a numbered Redis database as taken by one test run
# The flow's own jobs, as huey names them in its log (the periodic checks are left out).
EXECUTED = re.compile(r"Executing panel\.tasks(?:\.\w+)?\."
                      r"(scan_request|allocate_request|deploy_request): (\S+)")


@pytest.fixture
def fresh_postgres(testbed_credentials: dict[str, dict[str, str]]) -> Iterator[str]:
    """Create an empty PostgreSQL database for this test on the testbed; yield its SQLAlchemy URL."""
    url = testbed_credentials["postgres"]["url"]
    name = f"wadah_skala_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.rpartition("/")[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def redis_database(testbed: dict[str, dict[str, Any]],
                   testbed_credentials: dict[str, dict[str, str]]) -> Iterator[str]:
    """Claim an empty numbered database of the testbed's Redis; yield its URL; empty it after."""
    try:
        import redis
    except ImportError:
        unavailable("the redis extra is not installed (pip install -e '.[redis]')")
    base = testbed_credentials["redis"]["url"]
    token = secrets.token_hex(8)
    for number in range(1, testbed["redis"]["databases"]):
        client = redis.Redis.from_url(f"{base}/{number}")
        if client.set(CLAIM_KEY, token, nx=True, ex=2 * 3600) and client.dbsize() == 1:
            break
        client.close()
    else:
        unavailable("every numbered database of the testbed's Redis is claimed")
    try:
        yield f"{base}/{number}"
    finally:
        client.flushdb()
        client.close()


class Panel:
    """The web processes' base URLs, each call of the flow sent to the next one in turn."""

    def __init__(self, webs: list[str], token: str, served: Counter[str]) -> None:
        self.apis = [Api(f"{web}/api/v1", token) for web in webs]
        self.served = served

    def call(self, *args: Any, **kwargs: Any) -> Any:
        api = self.apis[sum(self.served.values()) % len(self.apis)]
        self.served[api.base] += 1
        return api.call(*args, **kwargs)

    def finished(self, job: dict[str, Any]) -> dict[str, Any]:
        return self.apis[0].finished(job)


@contextmanager
def processes(state: Path, commands: dict[str, list[str]], logs: Path) -> Iterator[dict[str, Path]]:
    """Run each `wadah` command as its own process, output in `logs/NAME.log`; stop them after."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WADAH_")}
    running: dict[str, subprocess.Popen[bytes]] = {}
    files = {name: logs / f"{name}.log" for name in commands}
    try:
        for name, arguments in commands.items():
            with files[name].open("wb") as out:
                running[name] = subprocess.Popen(
                    [sys.executable, "-m", "panel.cli", "--state-dir", str(state), *arguments],
                    stdout=out, stderr=subprocess.STDOUT, env=env)
        yield files
    finally:
        for process in running.values():
            process.terminate()
        for process in running.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(webs: list[str], workers: list[Path]) -> None:
    """Wait until every web process serves the sign-in page and every worker consumes."""
    deadline = time.monotonic() + READY_WAIT_S
    pending = [*webs, *workers]
    while pending:
        item = pending[0]
        if isinstance(item, Path):
            ready = "Huey consumer started" in item.read_text(errors="replace")
        else:
            try:
                with urllib.request.urlopen(f"{item}/login", timeout=5) as answer:
                    ready = answer.status == 200
            except OSError:
                ready = False
        if ready:
            pending.pop(0)
        elif time.monotonic() > deadline:
            logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in workers)
            raise AssertionError(f"{item} not ready within {READY_WAIT_S} s\n{logs}")
        else:
            time.sleep(0.3)


def sign_in_attempt(web: str, opener: urllib.request.OpenerDirector) -> int:
    """POST a wrong password to `web`'s sign-in page (with its CSRF token); return the status."""
    with opener.open(f"{web}/login", timeout=10) as page:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.read().decode())
    assert token, "no CSRF token on the sign-in page"
    form = urllib.parse.urlencode({"csrf_token": token[1], "username": "tidak.ada",
                                   "password": "salah-sekali-123"}).encode()
    try:
        with opener.open(f"{web}/login", data=form, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_two_web_and_two_worker_processes_share_postgres_and_redis(
        testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
        fresh_postgres: str, redis_database: str, tmp_path: Path) -> None:
    from panel import create_app, gateway
    from panel.extensions import db
    from panel.models import User
    from panel.services.infra import hosts
    from tests.panel.factories import api_token

    state = tmp_path / "wadah"
    instance = state / "panel"
    # What an operator writes in wadah.toml for several processes (docs/production.md).
    configuration.write_instance_file(instance, {
        "SQLALCHEMY_DATABASE_URI": fresh_postgres,
        "JOBS_BACKEND": redis_database,
        "RATELIMIT_STORAGE_URI": redis_database,
        "LOGIN_RATE_LIMIT": "2 per hour",
        "SESSION_COOKIE_SECURE": False,  # plain HTTP on loopback
        "CLAMD_URL": testbed["clamd"]["address"],
        "PEMDA_DOMAIN": dns_zone["zone"],
    })
    env = {key: value for key, value in os.environ.items() if not key.startswith("WADAH_")}
    for step in (("db", "upgrade"), ("seed-demo",)):
        done = wadah(state, *step, env=env)
        assert done.returncode == 0, done.stdout + done.stderr

    app = create_app({"INSTANCE_PATH": str(instance)})
    webs = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    commands = {f"web{n}": ["web", "--bind", web.removeprefix("http://"), "--workers", "1"]
                for n, web in enumerate(webs, 1)}
    # One thread each: a worker busy with one job leaves the next one to the other.
    commands |= {f"worker{n}": ["-v", "worker", "--workers", "1"] for n in (1, 2)}
    served: Counter[str] = Counter()
    subdomains = [f"skala{secrets.token_hex(3)}" for _ in range(2)]
    with app.app_context(), ExitStack() as stack:
        zone = flow.zone_from(dns_zone)
        db.session.commit()
        agents = gateway.agents(app)
        host = stack.enter_context(running_agent(agents, f"skala-{secrets.token_hex(3)}", testbed,
                                                 tmp_path))
        hosts.refresh_facts(agents, host)
        people = {name: db.session.query(User).filter_by(username=name).one()
                  for name in ("opd.dinkes", "kabid", "subkoor", "teknisi")}
        opd, kabid, subkoor, teknisi = (Panel(webs, api_token(person, "skala", 1)[1], served)
                                        for person in people.values())
        db.session.commit()
        logs = stack.enter_context(processes(state, commands, tmp_path))
        wait_until_ready(webs, [logs["worker1"], logs["worker2"]])
        try:
            paths = []
            for subdomain in subdomains:
                filed = opd.call("POST", "/requests", multipart=multipart(
                    {"app_name": f"Situs {subdomain}", "subdomain": subdomain, "stack": "static"},
                    {"letter_surat_permohonan": ("surat.pdf", MINIMAL_PDF),
                     "bundle": ("situs.tar.gz", flow.site(f"Skala {subdomain}"))}))
                paths.append(f"/requests/{filed['id']}")
                kabid.call("POST", f"{paths[-1]}/step", {"note": "Disposisi Kadis"})
                subkoor.call("POST", f"{paths[-1]}/step", {"decision": "ya", "note": "Lengkap"})

            # Launched back to back: the second job waits for a free worker while the first runs.
            scans = [teknisi.call("POST", f"{path}/scan") for path in paths]
            for scan in scans:
                assert teknisi.finished(scan)["status"] == "succeeded", scan
            allocations = [teknisi.call("POST", f"{path}/allocation") for path in paths]
            for allocation in allocations:
                assert (done := teknisi.finished(allocation))["status"] == "succeeded", done
            fqdns = [teknisi.call("GET", path)["app"]["fqdn"] for path in paths]
            deploys = [teknisi.call("POST", f"{path}/deployment") for path in paths]
            for deploy in deploys:
                assert (done := teknisi.finished(deploy))["status"] == "succeeded", done

            for subdomain, fqdn in zip(subdomains, fqdns, strict=True):
                assert fetch(testbed["nginx"]["http"], fqdn) == (200, f"<h1>Skala {subdomain}</h1>\n")
            assert set(served) == {f"{web}/api/v1" for web in webs}
            assert abs(served[f"{webs[0]}/api/v1"] - served[f"{webs[1]}/api/v1"]) <= 1

            # Each of the six jobs ran exactly once, and both workers took some of them.
            executed = {name: EXECUTED.findall(logs[name].read_text(errors="replace"))
                        for name in ("worker1", "worker2")}
            runs = Counter(task_id for ran in executed.values() for _, task_id in ran)
            assert len(runs) == 6 and set(runs.values()) == {1}, executed
            assert Counter(kind for ran in executed.values() for kind, _ in ran) == {
                "scan_request": 2, "allocate_request": 2, "deploy_request": 2}
            assert all(executed.values()), executed

            # The sign-in limit (2 per hour here) reached on web 1 holds on web 2, which has not
            # seen an attempt yet: both count in the one Redis.
            opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            assert [sign_in_attempt(webs[0], opener) for _ in range(3)] == [401, 401, 429]
            assert sign_in_attempt(webs[1], opener) == 429
        finally:
            for subdomain in subdomains:
                flow.clean_up(agents, host, subdomain, zone)
            db.session.remove()
            db.engine.dispose()
