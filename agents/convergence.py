"""Convergence in seconds: act on Docker's events and on nginx drift as they happen.

The periodic reconcile (agents/daemon.py) remains the safety net; this follows what changes in
between. A container of ours that dies, is destroyed or turns unhealthy is reconciled at once;
the vhosts the agent manages are hashed every few seconds and after each reload, and a changed,
missing or stray file is put right. The event stream reconnects after dockerd restarts, with a full
reconcile on reconnecting (events during the gap are lost).

An app that keeps dying is in a crash loop: the agent backs off (10 s, 20 s, ... 5 min between its
own restarts), reports the app as `crashloop`, and leaves it to the panel to tell the people
concerned. Docker's restart policy still restarts a crashing process itself; the agent's restarts
matter when the container is gone or was stopped behind the agent's back.
"""
from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents import defaults

logger = logging.getLogger(__name__)

EVENTS = ("die", "oom", "destroy", "health_status")
_FULL = ""  # queued in place of an app's name: reconcile the whole host


@dataclass
class CrashRecord:
    """When an app died lately, and how long the agent waits before restarting it again."""

    deaths: deque[float] = field(default_factory=deque)
    backoff_s: float = 0.0
    not_before: float = 0.0


class CrashLoops:
    """Counts deaths per app and says when an app is in a crash loop, and until when to wait."""

    def __init__(self, *, window_s: float = defaults.CRASH_WINDOW_S,
                 limit: int = defaults.CRASH_LIMIT,
                 backoff_s: tuple[float, float] = defaults.CRASH_BACKOFF_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.limit = limit
        self.first_backoff_s, self.max_backoff_s = backoff_s
        self.clock = clock
        self._apps: dict[str, CrashRecord] = {}
        self._lock = threading.Lock()

    def died(self, app: str) -> None:
        now = self.clock()
        with self._lock:
            record = self._apps.setdefault(app, CrashRecord())
            record.deaths.append(now)
            while record.deaths and record.deaths[0] < now - self.window_s:
                record.deaths.popleft()
            if len(record.deaths) >= self.limit:
                record.backoff_s = min(self.max_backoff_s,
                                       max(self.first_backoff_s, record.backoff_s * 2))
                record.not_before = now + record.backoff_s

    def looping(self, app: str) -> bool:
        """Return whether `app` died `limit` times within the window and has not settled since."""
        now = self.clock()
        with self._lock:
            record = self._apps.get(app)
            if record is None:
                return False
            if record.deaths and record.deaths[-1] < now - self.window_s:
                del self._apps[app]  # a whole window without dying: it settled
                return False
            return record.backoff_s > 0

    def wait_s(self, app: str) -> float:
        """Return how long to wait before the agent restarts `app` again (0: now)."""
        with self._lock:
            record = self._apps.get(app)
            return max(0.0, record.not_before - self.clock()) if record else 0.0

    def forget(self, app: str) -> None:
        """Clear an app's history (an operator started, restarted or redeployed it)."""
        with self._lock:
            self._apps.pop(app, None)


class Converger:
    """Follows Docker's events and nginx drift, and reconciles what changed, one app at a time."""

    def __init__(self, *, events: Callable[[], Iterable[Mapping[str, Any]]],
                 reconcile_app: Callable[[str], Any], reconcile_all: Callable[[], Any],
                 drifted: Callable[[], list[str]], crash_loops: CrashLoops | None = None,
                 drift_interval_s: float = defaults.DRIFT_INTERVAL_S,
                 reconnect_s: tuple[float, float] = defaults.EVENTS_RECONNECT_S) -> None:
        self.events = events
        self.reconcile_app = reconcile_app
        self.reconcile_all = reconcile_all
        self.drifted = drifted
        self.crash_loops = crash_loops or CrashLoops()
        self.drift_interval_s = drift_interval_s
        self.reconnect_s = reconnect_s
        self._work: queue.Queue[str] = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stream: Iterable[Mapping[str, Any]] | None = None
        self.reconciled: deque[str] = deque(maxlen=100)  # what it acted on lately, newest last

    def start(self) -> None:
        for target, name in ((self._follow_events, "events"), (self._watch_drift, "drift"),
                             (self._reconcile_queued, "reconcile")):
            thread = threading.Thread(target=target, name=f"wadah-converge-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._work.put(_FULL)  # wakes the reconciling thread
        close = getattr(self._stream, "close", None)
        if close is not None:  # docker's stream: closing it ends the blocked read at once
            with contextlib.suppress(Exception):
                close()
        for thread in self._threads:
            thread.join(timeout)

    def notice(self, event: Mapping[str, Any]) -> None:
        """Queue the app a Docker event is about, when it is one the agent acts on."""
        attributes = event.get("Actor", {}).get("Attributes", {})
        app = attributes.get(defaults.LABEL_APP)
        action = str(event.get("Action") or event.get("status") or "")
        if not app or not action.startswith(EVENTS):
            return
        if action.startswith("health_status") and not action.endswith("unhealthy"):
            return
        if action in ("die", "oom"):
            self.crash_loops.died(app)
        self._work.put(app)

    def _follow_events(self) -> None:
        delay = self.reconnect_s[0]
        lost = False  # events may have gone by unseen: a full reconcile once the stream is back
        while not self._stopping.is_set():
            try:
                stream = self._stream = self.events()
                if lost:
                    logger.info("docker event stream back; reconciling the whole host")
                    self._work.put(_FULL)
                lost = False
                delay = self.reconnect_s[0]
                for event in stream:
                    if self._stopping.is_set():
                        return
                    self.notice(event)
                lost = True  # the stream ended: dockerd stopped
            except Exception as exc:  # dockerd restarting or gone: retry, slower each time
                lost = True
                logger.warning("docker event stream lost (%s); retrying in %.0f s", exc, delay)
            self._stopping.wait(delay)
            delay = min(self.reconnect_s[1], delay * 2)

    def _watch_drift(self) -> None:
        while not self._stopping.wait(self.drift_interval_s):
            try:
                for app in self.drifted():
                    logger.info("%s: its vhost drifted; putting it back", app)
                    self._work.put(app)
            except Exception:
                logger.exception("checking the vhosts for drift failed")

    def _reconcile_queued(self) -> None:
        while not self._stopping.is_set():
            first = self._work.get()
            pending = {first}
            while not self._work.empty():  # coalesce a burst of events into one pass per app
                pending.add(self._work.get_nowait())
            if self._stopping.is_set():
                return
            if _FULL in pending:
                self._run(self.reconcile_all, "the host")
                continue
            for app in sorted(pending):
                wait = self.crash_loops.wait_s(app)
                if wait > 0:
                    self._later(app, wait)
                    continue
                self._run(lambda app=app: self.reconcile_app(app), app)  # type: ignore[misc]
                self.reconciled.append(app)

    def _later(self, app: str, delay: float) -> None:
        logger.warning("%s keeps dying; restarting it again in %.0f s", app, delay)
        timer = threading.Timer(delay, self._work.put, args=(app,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _run(action: Callable[[], Any], what: str) -> None:
        try:
            action()
        except Exception:
            logger.exception("reconciling %s failed", what)
