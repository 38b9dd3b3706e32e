"""Python files through bandit, in a child process with a size limit and a timeout."""
from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from scanners.engines.base import Engine, file_extension
from scanners.engines.registry import register
from scanners.findings import EngineError, Finding, Severity
from scanners.intake import FileEntry, Tree

logger = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 512 * 1024
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_BATCH_SIZE = 200


def is_python(entry: FileEntry) -> bool:
    """Return whether `entry` is Python source, by extension or by its #! line."""
    extension = file_extension(entry.name)
    if extension in ("py", "pyw"):
        return True
    if extension or entry.size < 10:
        return False
    try:
        with open(entry.fs_path, "rb") as handle:
            first = handle.readline(128)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


@register
class BanditEngine(Engine):
    """Runs bandit over the Python files of the tree."""

    name = "bandit"

    def __init__(self, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                 batch_size: int = DEFAULT_BATCH_SIZE, python: str = sys.executable) -> None:
        self.max_file_bytes = max_file_bytes
        self.timeout_seconds = timeout_seconds
        self.batch_size = batch_size
        self.python = python

    def available(self) -> bool:
        return importlib.util.find_spec("bandit") is not None

    def describe(self) -> dict[str, Any]:
        try:
            return {"version": importlib.metadata.version("bandit")}
        except importlib.metadata.PackageNotFoundError:
            return {"version": None}

    def cache_identity(self) -> dict[str, Any]:
        return {"class": type(self).__qualname__, **self.describe(), "python": self.python,
                "max_file_bytes": self.max_file_bytes}

    def scan(self, tree: Tree) -> list[Finding]:
        findings: list[Finding] = []
        batch: list[FileEntry] = []
        for entry in tree.files:
            if not is_python(entry):
                continue
            if entry.size > self.max_file_bytes:
                findings.append(Finding(
                    self.name, "bandit_skipped_large", Severity.LOW, entry.path,
                    f"Berkas Python lebih besar dari {self.max_file_bytes} bita, tidak diperiksa bandit"))
                continue
            batch.append(entry)
        for start in range(0, len(batch), self.batch_size):
            findings.extend(self._scan_batch(batch[start:start + self.batch_size]))
        return findings

    def _scan_batch(self, entries: list[FileEntry]) -> list[Finding]:
        try:
            return self._run(entries)
        except subprocess.TimeoutExpired:
            if len(entries) == 1:
                return [Finding(self.name, "bandit_timeout", Severity.MEDIUM, entries[0].path,
                                f"bandit tidak selesai dalam {self.timeout_seconds:g} detik")]
        # One file made the batch hang: give each file its own time limit.
        findings: list[Finding] = []
        for entry in entries:
            findings.extend(self._scan_batch([entry]))
        return findings

    def _run(self, entries: list[FileEntry]) -> list[Finding]:
        by_path = {entry.fs_path: entry for entry in entries}
        command = [self.python, "-m", "bandit", "--quiet", "--format", "json", "--ignore-nosec",
                   *by_path]
        returncode, stdout, stderr = run_bounded(command, self.timeout_seconds)
        if returncode not in (0, 1):
            raise EngineError(f"bandit gagal (kode {returncode}): "
                              f"{stderr.decode('utf-8', 'replace')[-500:]}")
        try:
            report = json.loads(stdout)
        except json.JSONDecodeError as exc:
            raise EngineError(f"keluaran bandit tidak dapat dibaca: {exc}") from exc
        findings = []
        for result in report.get("results", []):
            entry = by_path.get(result.get("filename", ""))
            if entry is None:
                continue
            line = int(result.get("line_number") or 0) or None
            snippet = _code_line(str(result.get("code", "")), line)
            findings.append(Finding(
                self.name,
                str(result.get("test_id", "bandit")),
                _severity(str(result.get("issue_severity")), str(result.get("issue_confidence"))),
                entry.path,
                f"{result.get('test_name')}: {result.get('issue_text')}",
                line,
                snippet,
            ))
        for error in report.get("errors", []):
            entry = by_path.get(error.get("filename", ""))
            if entry is not None:
                findings.append(Finding(self.name, "bandit_parse_error", Severity.LOW, entry.path,
                                        f"bandit tidak dapat mengurai berkas: {error.get('reason')}"))
        return findings


def run_bounded(command: list[str], timeout: float) -> tuple[int, bytes, bytes]:
    """Run `command` in its own process group; kill the whole group if it overruns `timeout`."""
    # cwd "/" so no configuration file inside the upload can switch tests off.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/",
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        return process.returncode, stdout, stderr


def _severity(severity: str, confidence: str) -> Severity:
    if severity == "HIGH" and confidence in ("HIGH", "MEDIUM"):
        return Severity.HIGH
    if severity == "HIGH" or (severity == "MEDIUM" and confidence == "HIGH"):
        return Severity.MEDIUM
    return Severity.LOW


def _code_line(code: str, line: int | None) -> str | None:
    """Pick the reported line out of bandit's numbered code excerpt."""
    for text in code.splitlines():
        number, _, rest = text.partition(" ")
        if line is not None and number == str(line):
            return rest.strip()[:200]
    return None
