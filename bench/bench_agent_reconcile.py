"""Convergence after a dockerd restart with 20 apps, the agent running as its daemon does (Docker's
event stream followed, the whole host reconciled when the stream comes back): the time until all
of them answer through nginx, against dockerd restarting the same 20 containers (same image, same
code) run directly with `docker run`, until all answer on their ports. Both clocks start when
dockerd is started again. Target: ≤ 1.3× Docker alone.

Then the case where only the agent brings them back: all 20 containers killed (Docker's restart
policy leaves a killed container alone), each app reconciled on its container's event, until all
answer through nginx, against `docker start` of the 20 killed plain containers.

This benchmark restarts the testbed's dockerd: run it when nothing else uses the testbed.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from common import (
    FAST_HEALTH,
    PHP_APP,
    answers,
    app_spec,
    figure,
    free_port,
    ratio,
    scratch_host,
    store,
    unique,
    wait_until,
)

from agents import defaults
from agents.convergence import Converger
from panel.testbed import Testbed

APPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
TIMEOUT_S = 180


def restart_dockerd() -> float:
    """Stop the testbed's dockerd, start it again; return the monotonic time of the start."""
    testbed = Testbed()
    testbed.down(["docker"])
    started = time.monotonic()
    testbed.up(["docker"])
    return started


def main() -> None:
    with scratch_host() as (host, status, client):
        nginx = status["nginx"]["http"]
        sha256 = store(host, PHP_APP)
        names = [unique(f"bench-r{i:02d}") for i in range(APPS)]
        for name in names:
            host.deploy(app_spec(name, 1, sha256, health=FAST_HEALTH))

        def all_through_nginx() -> bool:
            return all(answers(nginx, f"{name}.contoh.go.id") for name in names)

        # The agent as its daemon runs it: Docker's events followed, the host reconciled when the
        # stream comes back after dockerd restarts, each killed container's app reconciled.
        converger = Converger(events=host.events, reconcile_app=host.reconcile_app,
                              reconcile_all=host.reconcile, drifted=host.drifted,
                              crash_loops=host.crash_loops)
        converger.start()
        try:
            started = restart_dockerd()
            docker_up = time.monotonic() - started
            wait_until(all_through_nginx, TIMEOUT_S, poll=0.05)
            agent_s = time.monotonic() - started

            for container in host.runtime.owned():
                container.kill()
            started = time.monotonic()
            wait_until(all_through_nginx, TIMEOUT_S, poll=0.05)
            agent_kill_s = time.monotonic() - started
        finally:
            converger.stop()

        # The same containers, run by Docker directly (the agent's apps stopped meanwhile).
        code = {}
        for name in names:
            record = host.state.load(name)
            assert record is not None and record.current is not None
            code[name] = Path(record.current.directory)
            host.stop(name)
        image = defaults.RUNTIME_IMAGES["php"]
        plain = []
        try:
            for name in names:
                port = free_port()
                plain.append((port, client.containers.run(
                    image, detach=True, name=f"bench-plain-{name}",
                    user=f"{defaults.APP_UID}:{defaults.APP_GID}",
                    ports={f"{defaults.CONTAINER_PORT}/tcp": ("127.0.0.1", port)},
                    volumes={str(code[name]): {"bind": defaults.APP_MOUNT, "mode": "ro"}},
                    restart_policy={"Name": "unless-stopped"})))

            def all_on_their_ports() -> bool:
                return all(answers(f"127.0.0.1:{port}") for port, _ in plain)

            wait_until(all_on_their_ports, TIMEOUT_S, poll=0.05)
            started = restart_dockerd()
            wait_until(all_on_their_ports, TIMEOUT_S, poll=0.05)
            docker_s = time.monotonic() - started

            for _port, container in plain:
                container.kill()
            started = time.monotonic()
            for _port, container in plain:
                container.start()
            wait_until(all_on_their_ports, TIMEOUT_S, poll=0.05)
            docker_kill_s = time.monotonic() - started
        finally:
            for _port, container in plain:
                client.containers.get(container.id).remove(force=True)

        figure("reconcile_apps", APPS, "apps")
        figure("reconcile_dockerd_start", docker_up, "s", "until the Docker API answers")
        figure("reconcile_all_answer_through_nginx", agent_s, "s")
        figure("reconcile_docker_direct_all_answer", docker_s, "s",
               "same containers, docker run --restart unless-stopped")
        ratio("reconcile_ratio_agent_vs_docker_direct", agent_s, docker_s)
        figure("reconcile_killed_all_answer_through_nginx", agent_kill_s, "s",
               "each app reconciled on its container's die event")
        figure("reconcile_killed_docker_start_all_answer", docker_kill_s, "s")
        ratio("reconcile_killed_ratio_agent_vs_docker_start", agent_kill_s, docker_kill_s)


if __name__ == "__main__":
    main()
