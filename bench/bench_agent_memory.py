"""Idle memory per app, read from the containers' memory cgroups: static sites and PHP apps run by
the agent (targets: at most 10 MiB static, 40 MiB PHP), against a plain `docker run` of the same
image and code, after each served a few requests and settled.

The figure is the working set (usage less inactive page cache, as `docker stats` counts it);
resident anonymous memory (rss) is printed beside it.
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
    get,
    median,
    ratio,
    scratch_host,
    store,
    unique,
    wait_until,
)

from agents import defaults

APPS_PER_STACK = int(sys.argv[1]) if len(sys.argv) > 1 else 3
WARM_REQUESTS = 20
SETTLE_S = 3.0
TARGET_MIB = {"static": 10, "php": 40}
MiB = 1024 * 1024


def cgroup_memory(pid: int) -> tuple[int, int]:
    """Return (working set, rss) in bytes of the memory cgroup of process `pid`."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    v1 = [line.split(":", 2)[2] for line in lines if line.split(":", 2)[1] == "memory"]
    if v1:
        base = Path("/sys/fs/cgroup/memory") / v1[0].lstrip("/")
        usage = int((base / "memory.usage_in_bytes").read_text())
        stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
        inactive = int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))
        return usage - inactive, int(stat.get("total_rss", stat.get("rss", 0)))
    path = [line.split(":", 2)[2] for line in lines if line.startswith("0::")][0]
    base = Path("/sys/fs/cgroup") / path.lstrip("/")
    usage = int((base / "memory.current").read_text())
    stat = dict(line.split() for line in (base / "memory.stat").read_text().splitlines())
    return usage - int(stat.get("inactive_file", 0)), int(stat.get("anon", 0))


def main() -> None:
    with scratch_host() as (host, status, client):
        nginx = status["nginx"]["http"]
        for stack, files in (("static", STATIC_APP), ("php", PHP_APP)):
            sha256 = store(host, files)
            names = [unique(f"bench-m{stack}") for _ in range(APPS_PER_STACK)]
            for name in names:
                host.deploy(app_spec(name, 1, sha256, stack, health=FAST_HEALTH))
            record = host.state.load(names[0])
            assert record is not None and record.current is not None
            plain_port = free_port()
            plain = client.containers.run(
                defaults.RUNTIME_IMAGES[stack], detach=True,
                user=f"{defaults.APP_UID}:{defaults.APP_GID}",
                ports={f"{defaults.CONTAINER_PORT}/tcp": ("127.0.0.1", plain_port)},
                volumes={record.current.directory: {"bind": defaults.APP_MOUNT, "mode": "ro"}})
            try:
                plain_address = f"127.0.0.1:{plain_port}"
                wait_until(lambda a=plain_address: answers(a), timeout=30)
                for _ in range(WARM_REQUESTS):
                    get(plain_address)
                    for name in names:
                        get(nginx, f"{name}.contoh.go.id")
                time.sleep(SETTLE_S)
                working, rss = [], []
                for name in names:
                    (container,) = host.runtime.owned(name)
                    container.reload()
                    found = cgroup_memory(container.attrs["State"]["Pid"])
                    working.append(found[0] / MiB)
                    rss.append(found[1] / MiB)
                plain.reload()
                plain_working, plain_rss = (v / MiB for v in cgroup_memory(plain.attrs["State"]["Pid"]))
            finally:
                plain.remove(force=True)
            figure(f"memory_{stack}_idle_per_app", median(working), "MiB",
                   f"median of {len(names)}, target <= {TARGET_MIB[stack]} MiB; "
                   f"rss {median(rss):.1f} MiB")
            figure(f"memory_{stack}_idle_docker_run", plain_working, "MiB",
                   f"rss {plain_rss:.1f} MiB")
            ratio(f"memory_{stack}_ratio_agent_vs_docker_run", median(working), plain_working)
            for name in names:
                host.remove(name)


if __name__ == "__main__":
    main()
