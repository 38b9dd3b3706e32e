"""Convergence in seconds: how long an app takes to answer again through nginx after a fault, with
the agent's event follower and drift check running as its daemon runs them (agents/convergence.py).

Faults: its container killed (`docker kill`, which Docker's restart policy leaves alone), its
container removed, its vhost deleted and nginx reloaded. Beside the killed case: Docker's own
restart policy when the app's process dies inside the container (SIGKILL to its main process),
the one fault Docker repairs by itself. Target: each fault ≤ 10 s.
"""
from __future__ import annotations

import os
import signal
import time

from common import (
    FAST_HEALTH,
    PHP_APP,
    answers,
    app_spec,
    figure,
    ratio,
    scratch_host,
    store,
    unique,
    wait_until,
)

from agents.convergence import Converger

ROUNDS = 3
TIMEOUT_S = 120


def main() -> None:
    with scratch_host() as (host, status, _client):
        nginx = status["nginx"]["http"]
        name = unique("bench-cv")
        fqdn = f"{name}.contoh.go.id"
        host.deploy(app_spec(name, 1, store(host, PHP_APP), health=FAST_HEALTH))
        converger = Converger(events=host.events, reconcile_app=host.reconcile_app,
                              reconcile_all=host.reconcile, drifted=host.drifted,
                              crash_loops=host.crash_loops)
        converger.start()
        time.sleep(1)

        def container():  # type: ignore[no-untyped-def]
            (found,) = host.runtime.owned()
            return found

        def back() -> float:
            started = time.monotonic()
            wait_until(lambda: answers(nginx, fqdn), TIMEOUT_S, poll=0.05)
            return time.monotonic() - started

        def timed(fault) -> float:  # type: ignore[no-untyped-def]
            wait_until(lambda: answers(nginx, fqdn), TIMEOUT_S, poll=0.05)
            host.crash_loops.forget(name)  # rounds a few seconds apart are not a crash loop
            fault()
            return back()

        try:
            killed = [timed(lambda: container().kill()) for _ in range(ROUNDS)]
            removed = [timed(lambda: container().remove(force=True)) for _ in range(ROUNDS)]

            def delete_vhost() -> None:
                host.vhosts.path(name).unlink()
                host.vhosts.reload()

            vhost = [timed(delete_vhost) for _ in range(ROUNDS)]

            def process_dies() -> None:
                pid = container().attrs["State"]["Pid"]
                os.kill(pid, signal.SIGKILL)

            docker_policy = [timed(process_dies) for _ in range(ROUNDS)]
        finally:
            converger.stop()

        worst = max(killed + removed + vhost)
        figure("convergence_container_killed", max(killed), "s", "worst of 3; target <= 10 s")
        figure("convergence_container_removed", max(removed), "s", "worst of 3; target <= 10 s")
        figure("convergence_vhost_deleted", max(vhost), "s", "worst of 3; target <= 10 s")
        figure("docker_restart_policy_process_killed", max(docker_policy), "s",
               "Docker alone, its process SIGKILLed; worst of 3")
        ratio("convergence_killed_vs_docker_restart_policy", max(killed), max(docker_policy))
        figure("convergence_worst", worst, "s", "target <= 10 s")


if __name__ == "__main__":
    main()
