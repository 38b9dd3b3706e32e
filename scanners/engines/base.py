"""What every engine is: a name, an availability check and `scan(tree)` returning findings.

Engines that judge one file at a time derive from `FileEngine`; the scanner reads each file once
and hands the same `ScannedFile` (bytes plus YARA matches of every engine's rules) to all of them.
Used on its own, a file engine's `scan(tree)` does that reading itself.
"""
from __future__ import annotations

import abc
import functools
import hashlib
import mmap
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar

import yara

from scanners.findings import Finding, Severity, line_at
from scanners.intake import FileEntry, Tree

RULES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rules")

# Content analysis reads at most this much of a file; ClamAV still sees the whole file.
DEFAULT_MAX_CONTENT_BYTES = 32 * 1024 * 1024
# What the scanner keeps of a media file with no PHP in it: enough for every header check.
BINARY_HEAD_BYTES = 64 * 1024
YARA_TIMEOUT_SECONDS = 60


class Engine(abc.ABC):
    """A scanning engine: `available()` says whether it can run, `scan(tree)` returns findings."""

    name: ClassVar[str]

    def available(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        """Return what the report shows about this engine (version, rule or signature count)."""
        return {}

    def cache_identity(self) -> dict[str, Any]:
        """Return what decides this engine's findings besides the file (versions, rules, options)."""
        return {"class": type(self).__qualname__, **self.describe()}

    @abc.abstractmethod
    def scan(self, tree: Tree) -> list[Finding]:
        """Return the findings for every file of `tree`."""


@dataclass
class ScannedFile:
    """One file as the content engines see it: its bytes and the YARA rules it matched."""

    entry: FileEntry
    data: bytes
    truncated: bool = False
    matches: list[Any] = field(default_factory=list)
    kind: str = "text"

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def filename(self) -> str:
        return self.entry.name.lower()

    @functools.cached_property
    def extension(self) -> str:
        return file_extension(self.entry.name)

    def matches_in(self, namespace: str) -> list[Any]:
        return [match for match in self.matches if namespace_of(match) == namespace]

    def finding(self, engine: str, rule: str, severity: Severity, message: str,
                offset: int | None = None) -> Finding:
        """Build a finding on this file, with the line and text at `offset` when given."""
        if offset is None:
            return Finding(engine, rule, severity, self.path, message)
        line, snippet = line_at(self.data, offset)
        return Finding(engine, rule, severity, self.path, message, line, snippet)


def file_extension(name: str) -> str:
    """Return the lower-case extension of `name` without the dot ("" when there is none)."""
    base = name.rsplit("/", 1)[-1].lower()
    if "." not in base.lstrip("."):
        return ""
    return base.rsplit(".", 1)[-1]


# What a file is, for deciding which rules are worth running over it.
PHP, MARKUP, JAVASCRIPT, SCRIPT, TEXT, STYLE, BINARY = (
    "php", "markup", "javascript", "script", "text", "style", "binary")
CONTENT_KINDS = (PHP, MARKUP, JAVASCRIPT, SCRIPT, TEXT, STYLE, BINARY)
_KIND_BY_EXTENSION = {
    **dict.fromkeys(("php", "php3", "php4", "php5", "php7", "php8", "phtml", "pht", "phar",
                     "phps", "inc", "module", "ctp"), PHP),
    **dict.fromkeys(("html", "htm", "xhtml", "shtml", "svg", "xml", "twig", "tpl", "vue", "jsp",
                     "asp", "aspx"), MARKUP),
    **dict.fromkeys(("js", "mjs", "cjs", "ts", "jsx", "tsx"), JAVASCRIPT),
    **dict.fromkeys(("py", "pyw", "rb", "pl", "pm", "sh", "bash", "cgi", "lua"), SCRIPT),
    **dict.fromkeys(("css", "scss", "sass", "less", "map"), STYLE),
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "bmp", "ico", "webp", "tif", "tiff", "psd",
                     "mo", "ttf", "otf", "woff", "woff2", "eot", "mp3", "mp4", "avi", "mov",
                     "wav", "ogg", "webm", "pdf", "zip", "gz", "tgz", "bz2", "xz", "7z", "rar",
                     "jar", "war", "class", "pyc", "so", "dll", "exe", "bin", "dat", "db",
                     "sqlite", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods"),
                    BINARY),
}


JAVASCRIPT_EXTENSIONS = frozenset(
    extension for extension, kind in _KIND_BY_EXTENSION.items() if kind == JAVASCRIPT)


def has_php_tag(data: bytes | mmap.mmap) -> bool:
    """Return whether `data` holds a PHP opening tag (<?php or <?=)."""
    position = data.find(b"<?")
    while position >= 0:
        following = data[position + 2: position + 5].lower()
        if following == b"php" or following[:1] == b"=":
            return True
        position = data.find(b"<?", position + 2)
    # find(), not `in`: an mmap answers `in` by comparing single bytes.
    return data.find(b"language=\"php\"") >= 0 or data.find(b"language='php'") >= 0


_DOCUMENTATION = frozenset(("md", "markdown", "rst", "adoc", "txt"))


def content_kind(entry: FileEntry, data: bytes) -> str:
    """Classify a file as php, markup, javascript, script, text, style or binary."""
    extension = file_extension(entry.name)
    if extension in _DOCUMENTATION:
        # Documentation quotes PHP; a text file that *is* PHP starts with the tag.
        return PHP if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?") else TEXT
    if has_php_tag(data):
        return PHP
    kind = _KIND_BY_EXTENSION.get(extension)
    if kind is not None:
        return kind
    return BINARY if b"\x00" in data[:4096] else TEXT


def yara_externals(entry: FileEntry) -> dict[str, str]:
    return {"filename": entry.name.lower(), "extension": file_extension(entry.name)}


def compile_rules(sources: Mapping[str, Iterable[str]]) -> yara.Rules | None:
    """Compile YARA rule files, one namespace per engine name; None when there are none."""
    filepaths: dict[str, str] = {}
    for namespace, paths in sources.items():
        for index, path in enumerate(paths):
            # yara-python takes one file per namespace; `namespace_of` folds the suffix away.
            filepaths[namespace if index == 0 else f"{namespace}\x00{index}"] = path
    if not filepaths:
        return None
    return yara.compile(
        filepaths=filepaths, externals={"filename": "", "extension": ""}, error_on_warning=False
    )


def namespace_of(match: Any) -> str:
    return str(match.namespace).split("\x00", 1)[0]


RuleChooser = Callable[[str], "yara.Rules | None"]


def load(entry: FileEntry, rules: yara.Rules | None | RuleChooser,
         max_bytes: int = DEFAULT_MAX_CONTENT_BYTES) -> ScannedFile:
    """Read `entry` (up to `max_bytes`) and match it against `rules`.

    `rules` may be a function of the file's content kind, so each file meets only the rules that
    can say something about it.
    """
    chosen_for_binary = rules(BINARY) if callable(rules) else rules
    with open(entry.fs_path, "rb") as handle:
        if chosen_for_binary is None and _is_media_without_php(entry, handle):
            # Most of an upload's bytes are images and fonts: no rule reads them, so only their head
            # (for the magic-number checks) is copied into memory.
            return ScannedFile(entry, handle.read(BINARY_HEAD_BYTES), kind=BINARY)
        data = handle.read(max_bytes)
    item = ScannedFile(entry, data, truncated=entry.size > len(data))
    item.kind = content_kind(entry, data)
    chosen = rules(item.kind) if callable(rules) else rules
    if chosen is not None and data:
        # Fast mode stops looking for a string once found, unless a rule counts it.
        item.matches = chosen.match(
            data=data, externals=yara_externals(entry), timeout=YARA_TIMEOUT_SECONDS, fast=True
        )
    return item


def _is_media_without_php(entry: FileEntry, handle: BinaryIO) -> bool:
    """Return whether a big file named as binary holds no PHP tag, reading it without a copy."""
    if entry.size <= BINARY_HEAD_BYTES or _KIND_BY_EXTENSION.get(file_extension(entry.name)) != BINARY:
        return False
    try:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError:  # emptied since intake: read it the ordinary way
        return False
    with mapped:
        # A Windows program is judged by headers that may lie anywhere: read it whole.
        return mapped[:2] != b"MZ" and not has_php_tag(mapped)


class FileEngine(Engine):
    """An engine that judges each file on its own, from its bytes and its YARA matches."""

    # Rule files (under scanners/rules unless absolute) whose matches this engine interprets,
    # each run over `content_kinds` or, when given as (file, kinds), over those kinds only.
    rule_files: ClassVar[tuple[str | tuple[str, frozenset[str]], ...]] = ()
    # Content kinds (see `content_kind`) the rules are run over; other files skip them.
    content_kinds: ClassVar[frozenset[str]] = frozenset(CONTENT_KINDS)

    def __init__(self, extra_rule_files: Iterable[str] = ()) -> None:
        self.extra_rule_files = tuple(extra_rule_files)

    def rule_paths(self, kind: str | None = None) -> list[str]:
        """Return the rule files to run over files of `kind` (all of them without a kind)."""
        paths = []
        for item in self.rule_files:
            name, kinds = item if isinstance(item, tuple) else (item, self.content_kinds)
            if kind is None or kind in kinds:
                paths.append(os.path.join(RULES_DIR, name))
        if kind is None or kind in self.content_kinds:
            paths.extend(self.extra_rule_files)
        return paths

    # Whether `check` also judges files outside `content_kinds` (by name or by header).
    checks_every_kind: ClassVar[bool] = False

    def wants(self, entry: FileEntry) -> bool:
        """Return whether this engine looks at `entry` at all."""
        return True

    def looks_at(self, kind: str) -> bool:
        """Return whether `check` has anything to say about a file of this content kind."""
        return self.checks_every_kind or kind in self.content_kinds

    @abc.abstractmethod
    def check(self, item: ScannedFile) -> list[Finding]:
        """Return the findings for one file."""

    def cache_identity(self) -> dict[str, Any]:
        # The rules' text, not their count: an edited rule must invalidate remembered findings.
        return {"class": type(self).__qualname__, "yara": yara_version_label(),
                "rules": files_digest(self.rule_paths())}

    def describe(self) -> dict[str, Any]:
        paths = self.rule_paths()
        if not paths:
            return {"version": yara_version_label()}
        return {"version": yara_version_label(), "rules": count_yara_rules(paths)}

    def scan(self, tree: Tree) -> list[Finding]:
        rules = {kind: compile_rules({self.name: self.rule_paths(kind)}) for kind in CONTENT_KINDS}

        def choose(kind: str) -> yara.Rules | None:
            return rules[kind]

        findings: list[Finding] = []
        for entry in tree.files:
            if self.wants(entry):
                item = load(entry, choose)
                if self.looks_at(item.kind):
                    findings.extend(self.check(item))
        return findings


def yara_findings(item: ScannedFile, namespace: str) -> list[Finding]:
    """Turn the reportable YARA matches of one namespace into findings."""
    findings = []
    for match in item.matches:
        if namespace_of(match) != namespace:
            continue
        severity_name = str(match.meta.get("severity", "medium"))
        if severity_name == "none":
            continue
        offset = first_offset(match)
        findings.append(
            item.finding(
                namespace,
                match.rule,
                Severity.parse(severity_name),
                str(match.meta.get("message", match.rule)),
                offset,
            )
        )
    return findings


# Rules anchor on the character before a function name; the finding points past it.
_LEADING_CONTEXT = b"\r\n\t ;{}()=.,!&|>-"


def first_offset(match: Any) -> int | None:
    """Return where the earliest matched string of a YARA match starts, context skipped."""
    instances = [instance for string in match.strings for instance in string.instances]
    if not instances:
        return None
    first = min(instances, key=lambda instance: instance.offset)
    data = bytes(first.matched_data)
    return int(first.offset) + len(data) - len(data.lstrip(_LEADING_CONTEXT))


def files_digest(paths: Iterable[str]) -> str:
    """Return a digest of the named files' contents (a missing file counts as missing)."""
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        digest.update(path.encode() + b"\0")
        try:
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
        except OSError:
            digest.update(b"missing")
    return digest.hexdigest()


def yara_version_label() -> str:
    return f"yara {yara.__version__}"


def count_yara_rules(paths: Iterable[str]) -> int:
    count = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                count += sum(1 for line in handle if line.lstrip().startswith("rule "))
        except OSError:
            continue
    return count
