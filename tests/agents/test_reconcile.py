"""Reconcile: Docker and nginx converge on the agent's desired state after what breaks them — a killed
container, a deleted vhost, an agent killed mid-deploy or mid-removal, a dockerd restart — and
whatever the agent does not own is left alone.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from agents import defaults
from agents.host import HostAgent
from agents.protocol import HealthCheck
from agents.state import REMOVED
from agents.vhosts import Site
from panel.testbed import Testbed
from tests.agents.support import (
    containers_of,
    fetch,
    make_host,
    php_release,
    put,
    remove_everything,
    spec,
    unique,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reconcile")


@pytest.fixture(scope="module")
def host(testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
         runtime_images: dict[str, Any], mariadb_admin: dict[str, Any], root: Path
         ) -> Iterator[HostAgent]:
    agent = make_host(testbed, docker_client, mariadb_admin, root)
    yield agent
    remove_everything(agent)


def wait_answers(host: HostAgent, fqdn: str, expected: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fetch(host, fqdn)
            if last[0] == 200 and last[1].startswith(expected):
                return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{fqdn} did not answer {expected!r}: {last!r}")


def test_a_killed_container_and_a_deleted_vhost_come_back(
        host: HostAgent, docker_client: docker.DockerClient) -> None:
    name = unique("pulih")
    fqdn = f"{name}.contoh.go.id"
    host.deploy(spec(host, name, 1, php_release("pulih")))
    (container,) = containers_of(docker_client, name)
    container.kill()
    host.vhosts.path(name).unlink()
    host.vhosts.reload()
    assert fetch(host, fqdn)[0] == 404

    report = host.reconcile()

    assert any("dijalankan" in a for a in report.actions), report
    assert any(a.startswith(f"{name}: vhost") for a in report.actions), report
    wait_answers(host, fqdn, "rilis pulih")
    assert host.reconcile().actions == []  # converged: a second round has nothing to do


def test_what_it_owns_but_should_not_exist_goes_and_the_rest_stays(
        host: HostAgent, docker_client: docker.DockerClient, runtime_images: dict[str, Any]) -> None:
    orphan, foreign = unique("yatim"), unique("asing")
    image = defaults.RUNTIME_IMAGES["static"]
    command = ["/usr/sbin/nginx", "-c", "/etc/wadah/nginx.conf", "-e", "stderr"]
    ours = docker_client.containers.create(image, command, name=f"wadah-{orphan}-1-aaaaaa",
                                           labels=host.runtime.labels(orphan, 1, "aaaaaa"))
    theirs = docker_client.containers.create(image, command, name=f"wadah-{foreign}-1-bbbbbb",
                                             labels={defaults.LABEL_AGENT: "lain00",
                                                     defaults.LABEL_APP: foreign})
    unlabelled = docker_client.containers.create(image, command, name=f"bukan-wadah-{foreign}")
    host.vhosts.apply({orphan: host.vhosts.render(Site(app=orphan, fqdn=f"{orphan}.contoh.go.id",
                                                       port=None, instance="stopped"))})
    hand_written = host.vhosts.settings.sites_dir / f"{foreign}.conf"
    hand_written.write_text(f"server {{ listen {host.vhosts.settings.listen}; "
                            f"server_name {foreign}.contoh.go.id; return 204; }}\n")
    try:
        report = host.reconcile()

        assert any(ours.name in a for a in report.actions), report
        assert host.vhosts.read(orphan) is None
        remaining = {c.name for c in docker_client.containers.list(all=True)}
        assert ours.name not in remaining
        assert {theirs.name, unlabelled.name} <= remaining
        assert hand_written.is_file()
    finally:
        for container in (theirs, unlabelled):
            container.remove(force=True)
        hand_written.unlink()
        host.vhosts.reload()


DEPLOY_SCRIPT = """
import json, sys
from pathlib import Path
from agents.protocol.artifacts import ArtifactStore
from agents.databases import MariaDBSettings
from agents.host import HostAgent
from agents.protocol import AppSpec
from agents.vhosts import NginxSettings
import docker
args = json.loads(sys.argv[1])
nginx = {k: Path(v) if k in ("sites_dir", "log_dir", "pid_file") else v
         for k, v in args["nginx"].items()}
host = HostAgent(docker.DockerClient(base_url=args["docker"]), NginxSettings(**nginx), args["state"],
            ArtifactStore(args["artifacts"]), None)
host.deploy(AppSpec.from_dict(args["spec"]))
"""


def test_an_agent_killed_mid_deploy_converges_to_the_old_release(
        host: HostAgent, root: Path, testbed: dict[str, Any],
        docker_client: docker.DockerClient) -> None:
    name = unique("putus")
    fqdn = f"{name}.contoh.go.id"
    host.deploy(spec(host, name, 1, php_release("lama")))
    # The new release answers 503 for a long while: the deploy is stuck in its health check.
    slow = spec(host, name, 2, {"index.php": "<?php http_response_code(503);"},
                health=HealthCheck(attempts=600, interval_s=0.1, timeout_s=1))
    settings = {k: str(v) if isinstance(v, Path) else v
                for k, v in host.vhosts.settings.__dict__.items() if v is not None}
    args = {"docker": testbed["docker"]["address"], "nginx": settings,
            "state": str(host.state.root), "artifacts": str(host.artifacts.root),
            "spec": slow.to_dict()}
    agent = subprocess.Popen([sys.executable, "-c", DEPLOY_SCRIPT, json.dumps(args)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not any(c.labels.get(defaults.LABEL_RELEASE) == "2"
                      for c in containers_of(docker_client, name)):
            assert agent.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    finally:
        if agent.poll() is None:
            agent.kill()
    record = host.state.load(name)
    assert record is not None and record.pending is not None  # it died half-way

    # The agent starts again: a new HostAgent on the same state directory reconciles at start.
    assert host.databases is not None
    restarted = HostAgent(docker_client, host.vhosts.settings, host.state.root, host.artifacts,
                     host.databases.settings)
    report = restarted.reconcile()

    assert any("terputus" in a for a in report.actions), report
    assert [c.labels[defaults.LABEL_RELEASE] for c in containers_of(docker_client, name)] == ["1"]
    record = host.state.load(name)
    assert record is not None and record.pending is None
    wait_answers(host, fqdn, "rilis lama")
    assert host.deploy(spec(host, name, 2, php_release("baru"))).release_id == 2
    wait_answers(host, fqdn, "rilis baru")


def test_an_interrupted_removal_is_finished(host: HostAgent, docker_client: docker.DockerClient) -> None:
    name = unique("hapus")
    host.deploy(spec(host, name, 1, php_release("hapus"), database=True))
    record = host.state.load(name)
    assert record is not None
    record.desired = REMOVED  # what remove() saves before it starts taking things down
    host.state.save(record)

    report = host.reconcile()

    assert any("penghapusan" in a for a in report.actions), report
    assert containers_of(docker_client, name) == [] and host.vhosts.read(name) is None
    assert host.state.load(name) is None
    assert host.databases is not None and not host.databases.exists(name)
    assert list(host.state.dumps_dir.glob(f"{name}-*.sql.gz"))


def test_everything_converges_after_dockerd_restarts(host: HostAgent,
                                                     docker_client: docker.DockerClient) -> None:
    running, stopped = unique("hidup"), unique("mati")
    sha256 = put(host, php_release("tetap"))
    for name in (running, stopped):
        host.deploy(spec(host, name, 1, sha256=sha256))
    host.stop(stopped)

    testbed = Testbed()
    testbed.down(["docker"])
    try:
        assert fetch(host, f"{running}.contoh.go.id")[0] == 502
    finally:
        testbed.up(["docker"])

    report = host.reconcile()

    assert report.errors == [], report
    wait_answers(host, f"{running}.contoh.go.id", "rilis tetap")
    assert fetch(host, f"{stopped}.contoh.go.id")[0] == 503
    assert host.status(stopped).state == "exited"
    assert host.reconcile().actions == []
