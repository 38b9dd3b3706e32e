"""Deployed apps watched: what appears in their writable data is scanned, and a malicious file leaves.

A vulnerable plugin lets an attacker drop a webshell or a judi-online page into an app's uploads
folder long after the bundle was scanned. The agent watches each app's data directory with inotify
(a file closed after writing, or moved in) and sweeps it on a timer for what inotify misses (an
overflowed queue, changes while the agent was down). New or changed files are copied, without
following links, into a private staging directory and scanned with the upload scanner's engines and
policy. A file the policy calls infected, or with a finding of high severity, is quarantined
(agents/quarantine.py); one with lesser findings is reported and left in place. The release's code
is checked against its manifest at each sweep.

When the scanner's rules, signatures, engines or policy change (its fingerprint, as the verdict cache
keys it), a file judged clean yesterday may not be today: at start and at each sweep the watcher
compares the fingerprint with the one it remembers in the agent's state and, if it differs, scans
every file of every watched app again in the background, then remembers the new one.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from inotify_simple import INotify
from inotify_simple import flags as inotify_flags

from agents import defaults, private_files, tenantfs
from agents.quarantine import Detection, Held, Quarantine, sha256_of
from scanners import Scanner, Severity, Verdict

logger = logging.getLogger(__name__)

_FILE_EVENTS = inotify_flags.CLOSE_WRITE | inotify_flags.MOVED_TO | inotify_flags.ATTRIB
_DIR_EVENTS = inotify_flags.CREATE | inotify_flags.MOVED_TO
_WATCH_MASK = (_FILE_EVENTS | _DIR_EVENTS | inotify_flags.DELETE_SELF | inotify_flags.ONLYDIR
               | inotify_flags.DONT_FOLLOW)
RESCAN_FINGERPRINT_FILE = "watch-fingerprint"  # beside the stage, in the agent's state
RESCAN_BATCH = 200  # files per scan of a rescan: inotify's events are taken between two
Signature = tuple[int, int, int]  # size, mtime_ns, inode: a file changed when this did


@dataclass
class WatchedApp:
    """The inotify watches and the last sweep's view of one app's data directory."""

    data_dir: Path
    watches: dict[int, str] = field(default_factory=dict)  # watch descriptor → relative dir
    seen: dict[str, Signature] = field(default_factory=dict)


class Watcher:
    """Watches the apps' data directories and scans what changes, one batch per app."""

    def __init__(self, *, scanner: Scanner, quarantine: Quarantine, stage_root: Path,
                 apps: Callable[[], Mapping[str, Path]],
                 on_detection: Callable[[Held], None] = lambda held: None,
                 sweep_interval_s: float = defaults.WATCH_SWEEP_S,
                 settle_s: float = defaults.WATCH_SETTLE_S,
                 max_file_bytes: int = defaults.WATCH_MAX_FILE_BYTES,
                 fingerprint_file: Path | None = None) -> None:
        self.scanner = scanner
        self.quarantine = quarantine
        self.stage_root = stage_root
        self.apps = apps
        self.on_detection = on_detection
        self.sweep_interval_s = sweep_interval_s
        self.settle_s = settle_s
        self.max_file_bytes = max_file_bytes
        self.watched: dict[str, WatchedApp] = {}
        self._inotify = INotify()
        self._pending: dict[str, set[str]] = {}
        self._last_event = 0.0
        self._clean: set[str] = set()  # sha256s this scanner found clean: not scanned again
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # The scanner fingerprint every watched file was last scanned under, in the agent's state.
        self.fingerprint_file = fingerprint_file or stage_root.parent / RESCAN_FINGERPRINT_FILE
        self._checking = threading.Lock()  # one scan at a time: the loop's, or a rescan's batch
        self._rescan: threading.Thread | None = None

    # --- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wadah-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        for thread in (self._thread, self._rescan):
            if thread is not None:
                thread.join(timeout)
        self._inotify.close()

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stopping.is_set():
            try:
                self.sync()
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.sweep_interval_s
                self.read_events(timeout_ms=500)
                if self._pending and time.monotonic() - self._last_event >= self.settle_s:
                    self.check_pending()
            except Exception:
                logger.exception("watching the apps failed; going on")
                self._stopping.wait(1)

    # --- what is watched -------------------------------------------------------------------------

    def sync(self) -> None:
        """Watch the apps that appeared, forget those that went."""
        wanted = dict(self.apps())
        for app in set(self.watched) - set(wanted):
            for wd in self.watched.pop(app).watches:
                with contextlib.suppress(OSError):
                    self._inotify.rm_watch(wd)
        for app, data_dir in wanted.items():
            if app not in self.watched and data_dir.is_dir():
                self.watched[app] = WatchedApp(data_dir)
                self._watch_tree(app, "")
                self.watched[app].seen = self._index(data_dir)

    def _watch_tree(self, app: str, rel: str) -> None:
        watched = self.watched[app]
        top = watched.data_dir / rel if rel else watched.data_dir
        for root, dirs, _files in os.walk(top):  # os.walk never descends into linked directories
            here = os.path.relpath(root, watched.data_dir)
            here = "" if here == "." else here
            try:
                wd = self._inotify.add_watch(root, _WATCH_MASK)
            except OSError:
                dirs.clear()
                continue
            watched.watches[wd] = here

    # --- noticing changes ------------------------------------------------------------------------

    def read_events(self, timeout_ms: int = 0) -> None:
        """Take inotify's events: changed files become pending, new directories get watched."""
        by_wd = {wd: (app, rel) for app, w in self.watched.items() for wd, rel in w.watches.items()}
        for event in self._inotify.read(timeout=timeout_ms):
            if event.mask & inotify_flags.Q_OVERFLOW:
                logger.warning("inotify queue overflowed; sweeping every app")
                self.sweep()
                continue
            where = by_wd.get(event.wd)
            if where is None or not event.name:
                continue
            app, directory = where
            rel = f"{directory}/{event.name}" if directory else event.name
            if event.mask & inotify_flags.ISDIR:
                if event.mask & _DIR_EVENTS:
                    self._watch_tree(app, rel)
                    self._pending.setdefault(app, set()).update(self._files_below(app, rel))
            elif event.mask & _FILE_EVENTS:
                self._pending.setdefault(app, set()).add(rel)
            self._last_event = time.monotonic()

    def sweep(self) -> None:
        """Find what changed since the last look by walking every app's tree, and scan it."""
        for app, watched in list(self.watched.items()):
            now = self._index(watched.data_dir)
            changed = {rel for rel, sig in now.items() if watched.seen.get(rel) != sig}
            watched.seen = now
            if changed:
                self._pending.setdefault(app, set()).update(changed)
        self.check_pending()
        self.rescan_if_rules_changed()

    # --- rules that changed ----------------------------------------------------------------------

    def rescan_if_rules_changed(self) -> bool:
        """Start scanning every watched file again, in the background, if the scanner's fingerprint
        is not the one they were scanned under; return whether a rescan started."""
        if self._rescan is not None and self._rescan.is_alive():
            return False
        try:
            current = self.scanner.fingerprint()
        except Exception:  # a rule file unreadable now: try again at the next sweep
            logger.exception("the scanner's fingerprint cannot be computed")
            return False
        with contextlib.suppress(FileNotFoundError):
            if self.fingerprint_file.read_text().strip() == current:
                return False
        logger.info("the scanner's rules changed: scanning every watched app again")
        self._rescan = threading.Thread(target=self._rescan_all, args=(current,),
                                        name="wadah-rescan", daemon=True)
        self._rescan.start()
        return True

    def wait_for_rescan(self, timeout: float | None = None) -> None:
        """Wait until a rescan under way, if any, is finished."""
        if self._rescan is not None:
            self._rescan.join(timeout)

    def _rescan_all(self, fingerprint: str) -> None:
        with self._checking:
            self._clean.clear()  # what the old rules let through is judged again
        for app, watched in list(self.watched.items()):
            rels = sorted(self._index(watched.data_dir))
            for start in range(0, len(rels), RESCAN_BATCH):
                if self._stopping.is_set():
                    return  # not finished: the fingerprint stays old, so the next start goes on
                with contextlib.suppress(KeyError):  # the app went away meanwhile
                    self.check(app, rels[start:start + RESCAN_BATCH])
        private_files.write(self.fingerprint_file, fingerprint)
        logger.info("every watched app was scanned again under the new rules")

    def check_pending(self) -> list[Held]:
        """Scan every pending file; return what was quarantined or reported."""
        pending, self._pending = self._pending, {}
        found: list[Held] = []
        for app, rels in pending.items():
            if app in self.watched:
                found.extend(self.check(app, sorted(rels)))
        return found

    # --- judging ---------------------------------------------------------------------------------

    def check(self, app: str, rels: list[str]) -> list[Held]:
        """Scan `rels` of `app` as they are now; quarantine what is infected, report what needs review."""
        with self._checking:
            return self._check(app, rels)

    def _check(self, app: str, rels: list[str]) -> list[Held]:
        data_dir = self.watched[app].data_dir
        allowed = self.quarantine.allowed(app) | self._clean
        stage = self.stage_root / f"{app}-{secrets.token_hex(4)}"
        private_files.private_dir(stage)
        try:
            staged = {rel: digest for rel in rels
                      if (digest := self._stage(data_dir, rel, stage)) is not None}
            staged = {rel: digest for rel, digest in staged.items() if digest not in allowed}
            if not staged:
                return []
            report = self.scanner.scan(stage)
        finally:
            tenantfs.remove_tree(stage)
        judged: dict[str, list[tuple[bool, Detection]]] = {}
        for finding, verdict in zip(report.findings, report.finding_verdicts, strict=True):
            if finding.path in staged and verdict is not Verdict.CLEAN:
                # In a bundle, a high finding may wait for a technician's review; a file that
                # appeared in a live app's data does the harm while it waits: it is taken.
                take = verdict is Verdict.INFECTED or finding.severity >= Severity.HIGH
                judged.setdefault(finding.path, []).append((take, Detection(
                    finding.rule, finding.engine, finding.severity.name.lower(), finding.message)))
        if report.verdict is Verdict.ERROR:
            logger.error("scanning %s of %s failed: %s", len(staged), app, report.reason)
            return []
        found = []
        for rel, digest in staged.items():
            verdicts = judged.get(rel, [])
            detections = [d for _, d in verdicts]
            if not detections:
                self._clean.add(digest)
                continue
            if any(take for take, _ in verdicts):
                held = self.quarantine.hold(app, data_dir, rel, detections, expected_sha256=digest)
            else:
                size = self.watched[app].seen.get(rel, (0, 0, 0))[0]
                held = self.quarantine.report(app, rel, digest, size, detections)
            if held is not None:
                logger.warning("%s: %s %s (%s)", app, held.served_path, held.action,
                               ", ".join(d.rule for d in detections))
                found.append(held)
                self.on_detection(held)
        return found

    def _stage(self, data_dir: Path, rel: str, stage: Path) -> str | None:
        """Copy one tenant file into the stage without following links; return its sha256."""
        try:
            with tenantfs.opened_parent(data_dir, rel) as (parent, name):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                             dir_fd=parent)
        except (OSError, tenantfs.LinkRefused):
            return None  # gone, a link, or a FIFO: nothing to serve, nothing to scan
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > self.max_file_bytes:
                return None
            target = stage / rel
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            digest = hashlib.sha256()
            with open(target, "xb") as out:
                while chunk := os.read(fd, 1024 * 1024):
                    digest.update(chunk)
                    out.write(chunk)
            return digest.hexdigest()
        finally:
            os.close(fd)

    def _files_below(self, app: str, rel: str) -> set[str]:
        data_dir = self.watched[app].data_dir
        found = set()
        for root, _dirs, files in os.walk(data_dir / rel):
            for name in files:
                found.add(os.path.relpath(os.path.join(root, name), data_dir))
        return found

    @staticmethod
    def _index(data_dir: Path) -> dict[str, Signature]:
        seen: dict[str, Signature] = {}
        for root, _dirs, files in os.walk(data_dir):
            for name in files:
                path = os.path.join(root, name)
                with contextlib.suppress(OSError):
                    info = os.lstat(path)
                    if stat.S_ISREG(info.st_mode):
                        seen[os.path.relpath(path, data_dir)] = (info.st_size, info.st_mtime_ns,
                                                                 info.st_ino)
        return seen


def manifest(code_dir: Path) -> dict[str, str]:
    """Return the sha256 of every regular file of a release's code, by relative path."""
    found = {}
    for root, _dirs, files in os.walk(code_dir):
        for name in files:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        found[os.path.relpath(path, code_dir)] = sha256_of(fd)
                finally:
                    os.close(fd)
    return found


def code_changes(code_dir: Path, expected: Mapping[str, str]) -> list[str]:
    """Return the paths of a release's code that differ from its manifest: changed, added, gone."""
    now = manifest(code_dir)
    return sorted(p for p in set(now) | set(expected) if now.get(p) != expected.get(p))
