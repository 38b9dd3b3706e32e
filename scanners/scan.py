"""Run every engine over one upload and turn their findings into a report with a verdict."""
from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import Any

import yara

from scanners.engines import ENGINES
from scanners.engines.base import (
    CONTENT_KINDS,
    DEFAULT_MAX_CONTENT_BYTES,
    Engine,
    FileEngine,
    compile_rules,
    load,
)
from scanners.findings import EngineError, Finding, Severity, Verdict
from scanners.intake import FileEntry, Limits, RejectedUpload, Tree, open_upload
from scanners.policy import SIGNATURE_ENGINES, Policy
from scanners.report import ScanReport
from scanners.verdict_cache import (
    CacheUnavailable,
    VerdictCache,
    code_digest,
    fingerprint,
    sha256_files,
)

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# Files handed to one worker at a time: big enough to keep thread hand-offs rare.
_BATCH_FILES = 32


def build_engines(policy: Policy, clamd_url: str | None = None,
                  names: Iterable[str] | None = None) -> list[Engine]:
    """Create the engines named (all registered ones by default) with the policy's settings."""
    engines: list[Engine] = []
    for name in names if names is not None else ENGINES:
        try:
            cls: Any = ENGINES[name]
        except KeyError:
            raise ValueError(f"unknown engine {name!r}") from None
        options = dict(policy.engine_options.get(name, {}))
        if name == "clamav" and clamd_url:
            options["url"] = clamd_url
        if issubclass(cls, FileEngine):
            extra = policy.extra_rule_files(name)
            if extra:
                options["extra_rule_files"] = extra
        engines.append(cls(**options))
    return engines


class Scanner:
    """Scans uploads with a fixed set of engines and one policy; reusable across scans."""

    def __init__(self, engines: Sequence[Engine], policy: Policy | None = None,
                 workers: int | None = None,
                 max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES) -> None:
        self.engines = list(engines)
        self.policy = policy or Policy.load()
        # clamd and bandit run beside the content pass: leave them a core.
        self.workers = workers or max(1, min(4, (os.cpu_count() or 2) - 1))
        self.max_content_bytes = max_content_bytes
        self.file_engines: list[FileEngine] = [
            e for e in self.engines if isinstance(e, FileEngine)
        ]
        self.tree_engines = [e for e in self.engines if not isinstance(e, FileEngine)]
        # For each content kind, one rule set holding every engine's rules for that kind, so each
        # file is matched once for all engines and only against rules that apply to it.
        compiled: dict[frozenset[tuple[str, str]], yara.Rules | None] = {}
        self.rules_by_kind: dict[str, yara.Rules | None] = {}
        for kind in CONTENT_KINDS:
            wanted = {e.name: e.rule_paths(kind) for e in self.file_engines if e.rule_paths(kind)}
            key = frozenset((name, path) for name, paths in wanted.items() for path in paths)
            if key not in compiled:
                compiled[key] = compile_rules(wanted)
            self.rules_by_kind[kind] = compiled[key]

    def fingerprint(self) -> str:
        """Return the digest of this scanner's code, engine versions, rules, signatures and policy."""
        return fingerprint({
            "code": code_digest(),
            "engines": {engine.name: engine.cache_identity() for engine in self.engines},
            "policy": self.policy.fingerprint(),
            "max_content_bytes": self.max_content_bytes,
        })

    def scan(self, path: str | os.PathLike[str], limits: Limits | None = None,
             progress: Progress | None = None, cache: VerdictCache | None = None) -> ScanReport:
        """Scan the directory or archive at `path` and return the report.

        With `cache`, files whose findings it remembers for this very scanner are not scanned again.
        """
        started = time.monotonic()
        started_at = datetime.now(UTC)
        source = os.fspath(path)
        cached = 0
        try:
            with open_upload(source, limits or self.policy.limits) as tree:
                hashes: dict[str, str] = {}
                if cache is not None:
                    findings, errors, hashes, cached = self._run_cached(tree, progress, cache)
                else:
                    findings, errors = self._run(tree, progress)
                findings, allowed = self._apply_allowlist(tree, findings, hashes)
                files, size = len(tree.files), tree.total_bytes
        except RejectedUpload as exc:
            return self._report(Verdict.REJECTED, source, started, started_at,
                                reason=exc.message, reason_code=exc.code)
        except FileNotFoundError as exc:
            return self._report(Verdict.ERROR, source, started, started_at,
                                reason=str(exc), reason_code="not_found")
        except OSError as exc:
            logger.exception("scan of %s failed", source)
            return self._report(Verdict.ERROR, source, started, started_at,
                                reason=f"galat sistem berkas: {exc}", reason_code="io_error")
        verdict = self.policy.decide(findings, errors)
        reason = "; ".join(errors) if errors else None
        return self._report(verdict, source, started, started_at, findings=findings,
                            files=files, size=size, reason=reason,
                            reason_code="engine_error" if errors else None,
                            allowlisted=allowed, cached=cached)

    # -- running the engines ---------------------------------------------------------------------

    def _run_cached(self, tree: Tree, progress: Progress | None, cache: VerdictCache
                    ) -> tuple[list[Finding], list[str], dict[str, str], int]:
        """Run the engines over the files `cache` does not know; return findings, errors, hashes."""
        hashes = sha256_files(tree.files)
        try:
            identity = self.fingerprint()
            known = cache.lookup(identity, hashes)
        except (CacheUnavailable, EngineError) as exc:
            # Without a usable cache every file is scanned: slower, never less safe.
            logger.warning("verdict cache not used: %s", exc)
            findings, errors = self._run(tree, progress)
            return findings, errors, hashes, 0
        missing = [entry for entry in tree.files if entry.path not in known]
        partial = Tree(tree.source, files=missing, roots=tree.roots,
                       complete=len(missing) == len(tree.files))
        findings, errors = self._run(partial, progress) if missing else ([], [])
        if not errors and missing:
            try:
                cache.store(identity, {entry.path: hashes[entry.path] for entry in missing},
                            findings)
            except CacheUnavailable as exc:
                logger.warning("verdict cache not written: %s", exc)
        for items in known.values():
            findings.extend(items)
        findings.sort(key=lambda f: (f.path, f.line or 0, -f.severity, f.engine, f.rule))
        return findings, errors, hashes, len(known)

    def _run(self, tree: Tree, progress: Progress | None) -> tuple[list[Finding], list[str]]:
        findings: list[Finding] = []
        errors: list[str] = []
        total = len(tree.files)
        with ThreadPoolExecutor(max_workers=max(1, len(self.tree_engines)),
                                thread_name_prefix="engine") as side:
            tree_jobs = {side.submit(engine.scan, tree): engine for engine in self.tree_engines}
            if progress is not None:
                progress(0, total)
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="scan") as pool:
                batches: list[Future[tuple[list[Finding], list[str], int]]] = [
                    pool.submit(self._scan_files, tree.files[start:start + _BATCH_FILES])
                    for start in range(0, total, _BATCH_FILES)
                ]
                done = 0
                for future in as_completed(batches):
                    batch_findings, batch_errors, count = future.result()
                    findings.extend(batch_findings)
                    errors.extend(batch_errors)
                    done += count
                    if progress is not None:
                        progress(done, total)
            for job in as_completed(tree_jobs):
                engine = tree_jobs[job]
                try:
                    findings.extend(job.result())
                except EngineError as exc:
                    errors.append(f"{engine.name}: {exc}")
                except Exception as exc:  # an engine bug must not turn into a clean verdict
                    logger.exception("engine %s failed", engine.name)
                    errors.append(f"{engine.name}: {type(exc).__name__}: {exc}")
        findings.sort(key=lambda f: (f.path, f.line or 0, -f.severity, f.engine, f.rule))
        return findings, errors

    def _scan_files(self, entries: list[FileEntry]) -> tuple[list[Finding], list[str], int]:
        findings: list[Finding] = []
        errors: list[str] = []
        for entry in entries:
            try:
                item = load(entry, self.rules_by_kind.get, self.max_content_bytes)
            except yara.TimeoutError:
                findings.append(Finding("yara", "yara_timeout", Severity.MEDIUM, entry.path,
                                        "Pencocokan aturan YARA melewati batas waktu"))
                item = load(entry, None, self.max_content_bytes)
            except (OSError, yara.Error) as exc:
                errors.append(f"{entry.path}: {exc}")
                continue
            if item.truncated:
                findings.append(Finding(
                    "scanner", "content_truncated", Severity.LOW, entry.path,
                    f"Hanya {self.max_content_bytes} bita pertama diperiksa aturan isi"))
            for engine in self.file_engines:
                if not engine.wants(entry) or not engine.looks_at(item.kind):
                    continue
                try:
                    findings.extend(engine.check(item))
                except Exception as exc:  # fail closed: the scan ends in error
                    logger.exception("engine %s failed on %s", engine.name, entry.path)
                    errors.append(f"{engine.name}: {entry.path}: {type(exc).__name__}: {exc}")
        return findings, errors, len(entries)

    def _apply_allowlist(self, tree: Tree, findings: list[Finding],
                         known: dict[str, str]) -> tuple[list[Finding], int]:
        if not self.policy.allowlist or not findings:
            return findings, 0
        by_path = {entry.path: entry for entry in tree.files}
        hashes = dict(known)
        kept = []
        for finding in findings:
            entry = by_path.get(finding.path)
            if entry is None or finding.engine in SIGNATURE_ENGINES:
                kept.append(finding)
                continue
            if entry.path not in hashes:
                hashes[entry.path] = sha256_file(entry.fs_path)
            if hashes[entry.path] not in self.policy.allowlist:
                kept.append(finding)
        return kept, len(findings) - len(kept)

    def _report(self, verdict: Verdict, source: str, started: float, started_at: datetime,
                findings: list[Finding] | None = None, files: int = 0, size: int = 0,
                reason: str | None = None, reason_code: str | None = None,
                allowlisted: int = 0, cached: int = 0) -> ScanReport:
        findings = findings or []
        engines = {}
        for engine in self.engines:
            try:
                engines[engine.name] = engine.describe()
            except Exception as exc:  # a broken description must not hide the verdict
                engines[engine.name] = {"error": str(exc)}
        return ScanReport(
            verdict=verdict,
            source=source,
            reason=reason,
            reason_code=reason_code,
            findings=findings,
            finding_verdicts=[self.policy.verdict_for(f) for f in findings],
            files=files,
            bytes=size,
            seconds=round(time.monotonic() - started, 3),
            engines=engines,
            started_at=started_at.isoformat(timespec="seconds"),
            allowlisted=allowlisted,
            cached=cached,
        )


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def scan_path(path: str | os.PathLike[str], policy: Policy | None = None,
              clamd_url: str | None = None, limits: Limits | None = None,
              progress: Progress | None = None,
              engines: Iterable[str] | None = None,
              cache_dir: str | os.PathLike[str] | None = None) -> ScanReport:
    """Scan a directory or archive with every engine and return the report with its verdict.

    `progress(files_done, files_total)` is called from the calling thread as files are scanned.
    `engines` restricts the scan to the named engines (all by default). `cache_dir` holds the
    verdict cache: files it remembers for this scanner are not scanned again.
    """
    policy = policy or Policy.load()
    try:
        scanner = Scanner(build_engines(policy, clamd_url, engines), policy)
    except (ValueError, TypeError, yara.Error) as exc:
        now = datetime.now(UTC)
        return ScanReport(verdict=Verdict.ERROR, source=os.fspath(path),
                          reason=f"konfigurasi pemindai tidak sah: {exc}",
                          reason_code="configuration", started_at=now.isoformat(timespec="seconds"))
    cache = VerdictCache(cache_dir) if cache_dir is not None else None
    return scanner.scan(path, limits=limits, progress=progress, cache=cache)
