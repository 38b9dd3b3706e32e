"""Convergence machinery on the real Docker: events reach the app's reconcile, drift is noticed,
the event stream comes back after losing dockerd, and a crash loop backs off."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from agents import defaults
from agents.convergence import Converger, CrashLoops
from agents.host import HostAgent
from tests.agents.support import containers_of, fetch, php_release, spec, unique

pytestmark = pytest.mark.slow

BOUND_S = 30  # generous: these wait for a callback, they measure nothing


class Calls:
    """Records what the converger asked for, and lets a test wait for it."""

    def __init__(self) -> None:
        self.apps: list[str] = []
        self.full = 0
        self.changed = threading.Condition()

    def reconcile_app(self, app: str) -> None:
        with self.changed:
            self.apps.append(app)
            self.changed.notify_all()

    def reconcile_all(self) -> None:
        with self.changed:
            self.full += 1
            self.changed.notify_all()

    def wait(self, what: Any) -> bool:
        with self.changed:
            return self.changed.wait_for(what, BOUND_S)


@pytest.fixture
def labelled(docker_client: docker.DockerClient, runtime_images: dict[str, Any]) -> Iterator[Any]:
    app = unique("cv")
    container = docker_client.containers.run(
        defaults.RUNTIME_IMAGES["static"], name=f"wadah-test-{app}", detach=True,
        network_mode="none", labels={defaults.LABEL_APP: app, defaults.LABEL_AGENT: "test-converge"})
    yield container, app
    container.remove(force=True)


def events_of(client: docker.DockerClient) -> Iterator[dict[str, Any]]:
    return client.events(decode=True, filters={"type": "container",
                                               "label": f"{defaults.LABEL_AGENT}=test-converge"})


def test_a_killed_container_reaches_its_apps_reconcile(docker_client: docker.DockerClient,
                                                      labelled: Any) -> None:
    container, app = labelled
    calls = Calls()
    converger = Converger(events=lambda: events_of(docker_client), reconcile_app=calls.reconcile_app,
                          reconcile_all=calls.reconcile_all, drifted=list)
    converger.start()
    try:
        threading.Event().wait(1)  # the stream is open before the kill
        container.kill()
        assert calls.wait(lambda: app in calls.apps)
        assert calls.full == 0
    finally:
        converger.stop()


def test_drift_is_put_right_and_a_lost_event_stream_comes_back_with_a_full_reconcile(
        docker_client: docker.DockerClient, testbed: dict[str, Any]) -> None:
    calls = Calls()
    attempts = []

    def events() -> Iterator[dict[str, Any]]:
        attempts.append(1)
        if len(attempts) == 1:  # the first connection finds no dockerd at all
            return docker.DockerClient(base_url="unix:///nonexistent/docker.sock").events(decode=True)
        return events_of(docker_client)

    drift = ["alpha"]
    converger = Converger(events=events, reconcile_app=calls.reconcile_app,
                          reconcile_all=calls.reconcile_all,
                          drifted=lambda: [drift.pop()] if drift else [],
                          drift_interval_s=0.2, reconnect_s=(0.2, 0.5))
    converger.start()
    try:
        assert calls.wait(lambda: "alpha" in calls.apps)
        assert calls.wait(lambda: calls.full == 1)
        assert len(attempts) == 2
    finally:
        converger.stop()


def test_events_of_other_kinds_and_unlabelled_containers_are_ignored() -> None:
    calls = Calls()
    converger = Converger(events=list, reconcile_app=calls.reconcile_app,
                          reconcile_all=calls.reconcile_all, drifted=list)
    converger.notice({"Action": "start", "Actor": {"Attributes": {defaults.LABEL_APP: "a"}}})
    converger.notice({"Action": "health_status: healthy",
                      "Actor": {"Attributes": {defaults.LABEL_APP: "a"}}})
    converger.notice({"Action": "die", "Actor": {"Attributes": {"name": "someone-elses"}}})
    assert converger._work.empty()
    converger.notice({"Action": "health_status: unhealthy",
                      "Actor": {"Attributes": {defaults.LABEL_APP: "a"}}})
    assert converger._work.get_nowait() == "a"


def test_a_crash_loop_backs_off_doubling_and_settles_after_a_quiet_window() -> None:
    now = [1000.0]
    loops = CrashLoops(window_s=60, limit=3, backoff_s=(10, 40), clock=lambda: now[0])
    for _ in range(2):
        loops.died("portal")
    assert not loops.looping("portal") and loops.wait_s("portal") == 0
    loops.died("portal")
    assert loops.looping("portal") and loops.wait_s("portal") == 10
    waits = []
    for _ in range(3):
        now[0] += 1
        loops.died("portal")
        waits.append(loops.wait_s("portal"))
    assert waits == [20, 40, 40]  # doubling, capped
    now[0] += 61
    assert not loops.looping("portal") and loops.wait_s("portal") == 0
    loops.died("portal")
    assert not loops.looping("portal")


@pytest.fixture
def converging(host: HostAgent) -> Iterator[Converger]:
    converger = Converger(events=host.events, reconcile_app=host.reconcile_app,
                          reconcile_all=host.reconcile, drifted=host.drifted,
                          crash_loops=host.crash_loops, drift_interval_s=0.5)
    converger.start()
    threading.Event().wait(1)  # the event stream is open
    yield converger
    converger.stop()


def eventually(condition: Any) -> bool:
    pause = threading.Event()
    for _ in range(BOUND_S * 10):
        if condition():
            return True
        pause.wait(0.1)
    return False


def answers(host: HostAgent, fqdn: str, expected: str) -> bool:
    def ok() -> bool:
        try:
            status, body, _ = fetch(host, fqdn)
        except OSError:
            return False
        return status == 200 and body.startswith(expected)

    return eventually(ok)


def test_a_killed_container_a_removed_one_and_a_deleted_vhost_come_back_without_a_full_round(
        host: HostAgent, docker_client: docker.DockerClient, converging: Converger) -> None:
    name = unique("cv")
    fqdn = f"{name}.contoh.go.id"
    host.deploy(spec(host, name, 1, php_release("tetap")))
    rounds = []
    host.reconciler.reconcile = lambda: rounds.append(1)  # type: ignore[method-assign]

    (container,) = containers_of(docker_client, name)
    container.kill()  # Docker's restart policy leaves a killed container alone
    assert answers(host, fqdn, "rilis tetap")
    (container,) = containers_of(docker_client, name)
    container.remove(force=True)
    assert answers(host, fqdn, "rilis tetap")
    host.vhosts.path(name).unlink()
    host.vhosts.reload()
    assert answers(host, fqdn, "rilis tetap")
    vhost = host.vhosts.path(name)
    vhost.write_text(vhost.read_text().replace("proxy_pass", "# proxy_pass"))  # a hand edit
    assert eventually(lambda: host.drifted() == [])  # put back, nginx reloaded
    assert answers(host, fqdn, "rilis tetap")
    assert rounds == [] and name in converging.reconciled


def test_an_app_in_a_crash_loop_says_so_and_a_start_clears_it(host: HostAgent) -> None:
    name = unique("cv")
    host.deploy(spec(host, name, 1, php_release("jatuh")))
    for _ in range(defaults.CRASH_LIMIT):
        host.crash_loops.died(name)
    assert host.status(name).crash_loop is True
    assert host.status(name).to_dict()["crash_loop"] is True
    host.restart(name)
    assert host.status(name).crash_loop is False
