"""Redeploy under load: requests at concurrency 8 through nginx while a PHP app, then a static one,
is redeployed (and rolled back) several times; every response must be a 200 from one of its
releases. nginx keeps pooled connections to the static app's container (its nginx keeps them
alive), so the switch from one upstream pool to the next is measured as well.

Prints, per stack, the requests sent, the failed ones (target: 0), the releases that answered,
the latency percentiles under load and the duration of each switch.
"""
from __future__ import annotations

import http.client
import sys
import threading
import time
from collections import Counter
from typing import Any

from common import (
    FAST_HEALTH,
    app_spec,
    figure,
    scratch_host,
    store,
    unique,
)

from agents.host import HostAgent

CONCURRENCY = 8
MIN_REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
REDEPLOYS = 3
MAX_SECONDS = 300  # the load stops by itself, whatever happens


class Load:
    """CONCURRENCY clients, each sending one request per connection, until told to stop."""

    def __init__(self, address: str, fqdn: str) -> None:
        self.host, _, port = address.rpartition(":")
        self.port = int(port)
        self.fqdn = fqdn
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self.latencies: list[float] = []

    def client(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                conn.request("GET", "/", headers={"Host": self.fqdn})
                response = conn.getresponse()
                body = response.read().decode(errors="replace").strip()
                outcome = body if response.status == 200 and body.startswith("rilis ") \
                    else f"HTTP {response.status}: {body[:80]}"
            except (OSError, http.client.HTTPException) as exc:
                outcome = f"error: {exc!r}"
            finally:
                conn.close()
            with self.lock:
                self.latencies.append(time.monotonic() - started)
                if outcome.startswith("rilis "):
                    self.answers[outcome] += 1
                else:
                    self.failures.append(outcome)

    @property
    def sent(self) -> int:
        with self.lock:
            return len(self.latencies)


def release_app(number: int, stack: str) -> dict[str, str]:
    if stack == "static":
        return {"index.html": f"rilis {number}\n"}
    return {"index.php": f"<?php echo 'rilis {number}', \"\\n\";\n"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    failed = 0
    with scratch_host() as (host, status, _client):
        for stack in ("php", "static"):
            failed += run(host, status, stack)
    if failed:
        sys.exit(1)


def run(host: HostAgent, status: dict[str, dict[str, Any]], stack: str) -> int:
    """Redeploy one app of `stack` under load; print the figures; return the failed responses."""
    name = unique("bench-beban")
    fqdn = f"{name}.contoh.go.id"
    releases = {n: store(host, release_app(n, stack)) for n in range(1, 2 + REDEPLOYS)}
    host.deploy(app_spec(name, 1, releases[1], stack, health=FAST_HEALTH))
    load = Load(status["nginx"]["http"], fqdn)
    threads = [threading.Thread(target=load.client, daemon=True) for _ in range(CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    switches: list[float] = []
    try:
        time.sleep(0.5)
        for release in range(2, 2 + REDEPLOYS):
            result = host.deploy(app_spec(name, release, releases[release], stack,
                                          health=FAST_HEALTH))
            switches.append(result.seconds)
        switches.append(host.rollback(name).seconds)
        while load.sent < MIN_REQUESTS and time.monotonic() - started < MAX_SECONDS:
            time.sleep(0.05)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - started
    figure(f"redeploy_{stack}_requests", load.sent, "requests",
           f"concurrency {CONCURRENCY}, {elapsed:.1f} s, {load.sent / elapsed:.0f} req/s")
    figure(f"redeploy_{stack}_failed_responses", len(load.failures), "responses", "target 0")
    for failure in load.failures[:10]:
        print(f"  failed: {failure}")
    figure(f"redeploy_{stack}_switches", len(switches), "", f"{REDEPLOYS} redeploys and 1 rollback")
    figure(f"redeploy_{stack}_switch_seconds_max", max(switches), "s",
           " ".join(f"{s:.2f}" for s in switches))
    print(f"redeploy_{stack}_answers_by_release: " + ", ".join(
        f"{k.split()[1]}={v}" for k, v in sorted(load.answers.items())))
    figure(f"redeploy_{stack}_latency_p50", percentile(load.latencies, 0.5) * 1000, "ms")
    figure(f"redeploy_{stack}_latency_p99", percentile(load.latencies, 0.99) * 1000, "ms")
    return len(load.failures)


if __name__ == "__main__":
    main()
