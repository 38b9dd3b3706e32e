"""Deploy latency: from "run this app" (its artifact stored on the agent) to "answers through its
vhost", against a plain `docker run` of the same image with the same code, waiting for its port.

Both are measured in the same run, alternating, for the PHP app (target: at most 2x) and a static
site; the medians and their ratio are printed.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from common import (
    FAST_HEALTH,
    PHP_APP,
    STATIC_APP,
    answers,
    app_spec,
    figure,
    free_port,
    median,
    ratio,
    scratch_host,
    store,
    unique,
    wait_until,
)

from agents import defaults

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def main() -> None:
    with scratch_host() as (host, status, client):
        nginx = status["nginx"]["http"]
        for stack, files in (("php", PHP_APP), ("static", STATIC_APP)):
            image = defaults.RUNTIME_IMAGES[stack]
            agent_s: list[float] = []
            plain_s: list[float] = []
            for _ in range(ROUNDS):
                name = unique(f"bench-{stack}")
                sha256 = store(host, files)
                started = time.monotonic()
                host.deploy(app_spec(name, 1, sha256, stack, health=FAST_HEALTH))
                wait_until(lambda n=name: answers(nginx, f"{n}.contoh.go.id"), timeout=30)
                agent_s.append(time.monotonic() - started)

                record = host.state.load(name)
                assert record is not None and record.current is not None
                code = Path(record.current.directory)
                port = free_port()
                started = time.monotonic()
                container = client.containers.run(
                    image, detach=True, user=f"{defaults.APP_UID}:{defaults.APP_GID}",
                    ports={f"{defaults.CONTAINER_PORT}/tcp": ("127.0.0.1", port)},
                    volumes={str(code): {"bind": defaults.APP_MOUNT, "mode": "ro"}})
                try:
                    wait_until(lambda p=port: answers(f"127.0.0.1:{p}"), timeout=30)
                    plain_s.append(time.monotonic() - started)
                finally:
                    container.remove(force=True)
                host.remove(name)
            figure(f"deploy_{stack}_agent_median", median(agent_s), "s",
                   f"{ROUNDS} rounds, min {min(agent_s):.3f} max {max(agent_s):.3f}")
            figure(f"deploy_{stack}_docker_run_median", median(plain_s), "s",
                   f"{ROUNDS} rounds, min {min(plain_s):.3f} max {max(plain_s):.3f}")
            ratio(f"deploy_{stack}_ratio_agent_vs_docker_run", median(agent_s), median(plain_s),
                  "<= 2x" if stack == "php" else "")


if __name__ == "__main__":
    main()
