"""PHP webshells and backdoors: YARA rules, then deobfuscation and request-input tracking."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

import yara

from scanners.engines.base import (
    JAVASCRIPT_EXTENSIONS,
    PHP,
    YARA_TIMEOUT_SECONDS,
    FileEngine,
    ScannedFile,
    compile_rules,
    first_offset,
    namespace_of,
    yara_externals,
    yara_findings,
)
from scanners.engines.php_assembled_names import find_assembled_calls
from scanners.engines.php_deobfuscation import Normalized, looks_like_php, normalize
from scanners.engines.php_droppers import find_droppers
from scanners.engines.php_hidden_loads import find_hidden_loads
from scanners.engines.php_source import strip_comments
from scanners.engines.php_taint import find_tainted_sinks
from scanners.engines.registry import register
from scanners.findings import Finding, Severity, line_at

# Small files holding request input get the full analysis even without a named sink:
# one-line webshells call variables as functions.
SMALL_FILE_BYTES = 16 * 1024
# Bigger files are analysed only when a marker rule says so, and only up to this size.
MAX_ANALYSIS_BYTES = 4 * 1024 * 1024
MAX_PAYLOAD_DEPTH = 3

_VARIABLE_CALL = re.compile(rb"\$[A-Za-z_\x80-\xff][\w\x80-\xff]*\s*\(")
_LONG_BLOB = re.compile(r"['\"]([A-Za-z0-9+/=]{1500,})['\"]")
_EXEC_HINT = re.compile(r"\b(?:eval|assert|create_function)\s*\(", re.I)


@register
class PhpEngine(FileEngine):
    """Finds PHP webshells, backdoors and hidden code."""

    name = "php"
    rule_files = ("php.yar",)
    content_kinds = frozenset({PHP})

    def __init__(self, extra_rule_files: Iterable[str] = ()) -> None:
        super().__init__(extra_rule_files)
        self._rules: yara.Rules | None = None
        self._lock = threading.Lock()

    def own_rules(self) -> yara.Rules | None:
        with self._lock:
            if self._rules is None:
                self._rules = compile_rules({self.name: self.rule_paths()})
            return self._rules

    def check(self, item: ScannedFile) -> list[Finding]:
        data = item.data
        if item.kind != PHP:
            return []
        findings = yara_findings(item, self.name)
        markers = {
            match.rule for match in item.matches
            if namespace_of(match) == self.name and match.meta.get("severity") == "none"
        }
        obfuscated = "php_marker_obfuscation" in markers
        request = "php_marker_source" in markers
        runs_code = "php_marker_exec" in markers
        # Small files with request input are read closely when they pass something on:
        # a callback or include with a variable, a variable called as a function, a backtick.
        passes_on = len(data) <= SMALL_FILE_BYTES and (
            "php_marker_sink" in markers or b"`" in data or _VARIABLE_CALL.search(data) is not None
        )
        code: str | None = None
        if len(data) <= MAX_ANALYSIS_BYTES and (
            obfuscated or (request and (runs_code or passes_on))
        ):
            reported = {finding.rule for finding in findings}
            code = strip_comments(data.decode("latin-1"))
            findings.extend(self._analyse(item, code, 0, None, reported))
        if "php_marker_assembly" in markers:
            if code is None:
                code = strip_comments(data.decode("latin-1"))
            for call in find_assembled_calls(code):
                how = "ditulis utuh lalu dipindah ke variabel" if call.plain else "disusun potongan"
                findings.append(self._finding(
                    item, "php_assembled_function_call",
                    Severity.HIGH if call.plain else Severity.CRITICAL,
                    f"Fungsi berbahaya '{call.name}' dipanggil lewat {call.variable} ({how})",
                    call.line))
        if "php_marker_dropper" in markers:
            if code is None:
                code = strip_comments(data.decode("latin-1"))
            for dropped in find_droppers(code):
                findings.append(self._finding(
                    item, "php_remote_dropper", Severity.CRITICAL,
                    f"Dropper: kode diunduh dari internet, ditulis ke {dropped.target}, lalu "
                    "di-include/require", dropped.line))
        # JavaScript's require("./x") looks like PHP's; a script with a PHP tag is judged elsewhere.
        if "php_marker_load" in markers and len(data) <= MAX_ANALYSIS_BYTES \
                and item.extension not in JAVASCRIPT_EXTENSIONS:
            if code is None:
                code = strip_comments(data.decode("latin-1"))
            for hit in find_hidden_loads(code):
                findings.append(self._finding(item, hit.rule, Severity.parse(hit.severity),
                                              hit.message, hit.line))
        return _dedupe(findings)

    # -- deeper analysis -------------------------------------------------------------------------

    def _analyse(self, item: ScannedFile, code: str, depth: int, at_line: int | None,
                 reported: set[str]) -> list[Finding]:
        """Deobfuscate comment-free `code` and follow request input, decoded payloads included."""
        normalized = normalize(code)
        suffix = " (dalam muatan tersandi)" if depth else ""
        hits = [*_built_name_hits(normalized),
                *self._deobfuscated_rule_hits(item, normalized, depth, reported),
                *_input_hits(normalized.code, depth), *_long_blob_hits(normalized.code)]
        findings = [self._finding(item, rule, severity, message + suffix, at_line or line)
                    for rule, severity, message, line in hits]
        findings.extend(self._payload_findings(item, normalized, depth, at_line, reported))
        return findings

    def _deobfuscated_rule_hits(self, item: ScannedFile, normalized: Normalized, depth: int,
                                reported: set[str]) -> list[_Hit]:
        """Return the marker rules that match only once the code is deobfuscated (or decoded)."""
        if not (normalized.changed or depth):
            return []
        text = normalized.code.encode("latin-1", "replace")
        hits: list[_Hit] = []
        for match in self._match(text, item):
            severity_name = str(match.meta.get("severity", "medium"))
            if severity_name == "none" or (not depth and match.rule in reported):
                continue
            offset = first_offset(match) or 0
            line = text.count(b"\n", 0, offset) + 1
            message = str(match.meta.get("message", match.rule))
            if not depth:
                message += " (setelah deobfuskasi)"
            hits.append((match.rule, Severity.parse(severity_name), message, line))
        return hits

    def _payload_findings(self, item: ScannedFile, normalized: Normalized, depth: int,
                          at_line: int | None, reported: set[str]) -> list[Finding]:
        """Analyse each decoded payload in turn, or report it as hidden PHP when it goes deeper still."""
        findings: list[Finding] = []
        for payload in normalized.payloads:
            line = at_line or payload.line
            inner: list[Finding] = []
            if depth < MAX_PAYLOAD_DEPTH:
                inner = self._analyse(item, strip_comments(payload.text), depth + 1, line,
                                      reported)
            findings.extend(inner)
            if not inner and looks_like_php(payload.text):
                findings.append(self._finding(
                    item, "php_encoded_code", Severity.HIGH,
                    f"Kode PHP tersembunyi dalam data tersandi ({payload.how})", line))
        return findings

    def _match(self, data: bytes, item: ScannedFile) -> list[Any]:
        rules = self.own_rules()
        if rules is None:
            return []
        try:
            matches: list[Any] = rules.match(
                data=data, externals=yara_externals(item.entry), timeout=YARA_TIMEOUT_SECONDS
            )
        except yara.TimeoutError:
            return []
        return matches

    def _finding(self, item: ScannedFile, rule: str, severity: Severity, message: str,
                 line: int) -> Finding:
        offset = _offset_of_line(item.data, line)
        number, snippet = line_at(item.data, offset)
        return Finding(self.name, rule, severity, item.path, message, number, snippet)


# A finding before it is placed in its file: rule, severity, message and line.
_Hit = tuple[str, Severity, str, int]


def _built_name_hits(normalized: Normalized) -> list[_Hit]:
    """Return the dangerous function names that only deobfuscation spelled out."""
    return [("php_built_function_name", Severity.HIGH,
             f"Nama fungsi berbahaya '{name}' disusun secara tersamar",
             _line_of_literal(normalized.code, name))
            for name in sorted(normalized.built_names)]


def _input_hits(code: str, depth: int) -> list[_Hit]:
    """Return the dangerous calls fed by request input, and in a decoded payload its hidden loads."""
    hits = [(hit.rule, Severity.parse(hit.severity), hit.message, hit.line)
            for hit in find_tainted_sinks(code)]
    if depth:
        # A decoded payload is read whole: its includes are not seen by the marker rules.
        hits += [(load.rule, Severity.parse(load.severity), load.message, load.line)
                 for load in find_hidden_loads(code)]
    return hits


def _long_blob_hits(code: str) -> list[_Hit]:
    """Return a very long encoded literal in code that runs dynamic code."""
    lower = code.lower()
    if not any(word in lower for word in ("eval", "assert", "create_function")):
        return []
    blob = _LONG_BLOB.search(code)
    if blob is None or not _EXEC_HINT.search(code):
        return []
    return [("php_long_encoded_blob", Severity.HIGH,
             "Blok data tersandi sangat panjang di berkas yang menjalankan kode dinamis",
             code.count("\n", 0, blob.start()) + 1)]


def _line_of_literal(code: str, name: str) -> int:
    index = code.lower().find("'" + name + "'")
    return code.count("\n", 0, max(index, 0)) + 1


def _offset_of_line(data: bytes, line: int) -> int:
    offset = 0
    for _ in range(line - 1):
        found = data.find(b"\n", offset)
        if found < 0:
            break
        offset = found + 1
    return offset


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int | None]] = set()
    unique = []
    for finding in sorted(findings, key=lambda f: -f.severity):
        key = (finding.rule, finding.line)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique
