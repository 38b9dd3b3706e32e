"""Where PHP code loads more code from: the targets of includes, and files read then evaluated.

Code hidden in a picture, a compressed stream or the request body only runs through an include (or
an eval of what a file holds). Each target is resolved as far as the file itself allows
(`php_include_targets`) and judged here by where it points: a stream wrapper, a file that is not
PHP, a temporary or system location. Like the rest of the PHP analysis, it reads comment-free code.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from scanners.engines.php_include_targets import (
    MAX_RESOLVE_DEPTH,
    PLAIN_VARIABLE,
    Resolver,
    Target,
    statement_end,
    whole_words,
)
from scanners.engines.php_source import LineIndex, is_call_site

# Extensions PHP sources and templates carry; an include of one of them is ordinary.
PHP_SOURCE_EXTENSIONS = frozenset({
    "php", "php3", "php4", "php5", "php7", "php8", "phtml", "inc", "module", "install", "theme",
    "engine", "profile", "ctp", "tpl", "html", "htm", "xhtml",
})
# Extensions of files that hold data, never code: an include of one runs whatever PHP hides inside.
DATA_EXTENSIONS = frozenset({
    "jpg", "jpeg", "png", "gif", "bmp", "ico", "webp", "tif", "tiff", "svg", "svgz", "psd", "heic",
    "mp3", "mp4", "avi", "mov", "wav", "ogg", "webm", "mkv", "flv", "pdf", "doc", "docx", "xls",
    "xlsx", "ppt", "pptx", "odt", "ods", "rtf", "ttf", "otf", "woff", "woff2", "eot", "zip", "rar",
    "7z", "gz", "bz2", "xz", "tar", "tgz", "txt", "log", "css", "js", "map", "json", "xml", "csv",
    "md", "tmp", "temp", "dat", "bin", "bak", "old", "swp", "db", "sqlite", "sql", "mo", "po",
})
ARCHIVE_EXTENSIONS = frozenset({"zip", "rar", "7z", "gz", "bz2", "xz", "tar", "tgz", "phar"})
# Wrappers that unpack an archive or a compressed file before PHP reads it.
ARCHIVE_WRAPPERS = frozenset({"phar", "zip", "rar", "compress.zlib", "compress.bzip2", "zlib"})
# Read filters that turn stored bytes into different code on the way to the interpreter.
DECODING_FILTERS = ("base64-decode", "rot13", "inflate", "decompress", "quoted-printable-decode",
                    "uudecode", "convert.iconv", "dechunk")
# Bounds on the work one file can ask for, however it is written.
MAX_KEYWORDS = 2000  # occurrences of each keyword pair read in one file

# What may come right before an include that starts or sits inside an expression.
_STATEMENT_BEFORE = re.compile(
    r"(?:[;{}():,=!@?.&|\[]|<\?php|<\?|\breturn|\belse|\bdo|\band|\bor|\bxor|\becho|\bprint)\Z")
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.\-]{1,30}):(//)?")
# Calls that read a file, by name or (the handle readers) through a handle from fopen().
_READ_CALL = re.compile(
    r"\b(file_get_contents|gzfile|readgzfile|file|fread|fgets|stream_get_contents)\s*\(", re.I)
_HANDLE_READERS = frozenset({"fread", "fgets", "stream_get_contents"})
_OPEN_CALL = re.compile(r"\s*@?\s*(?:fopen|gzopen|bzopen)\s*\(", re.I)
_VARIABLE_NAME = re.compile(r"\$[A-Za-z_\x80-\xff][\w\x80-\xff]*")


@dataclass(frozen=True)
class LoadHit:
    """A place where a file loads code from somewhere it should not."""

    rule: str
    severity: str
    line: int
    message: str


# -- judging targets -----------------------------------------------------------------------------

_REMOTE_SCHEMES = frozenset({"http", "https", "ftp", "ftps"})
_STREAM_WRAPPERS = {
    "php://input": "isi permintaan (php://input)",
    "php://stdin": "masukan standar (php://stdin)",
}
_SYSTEM_PREFIXES = ("/proc/", "/dev/fd/", "/dev/stdin", "/var/log/", "/var/lib/php/sess")
# Paths PHP code names, never opened here.
_TEMPORARY_PREFIXES = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/")  # noqa: S108


def judge(target: Target) -> tuple[str, str, str] | None:
    """Return (rule, severity, message) for an include target that loads hidden code, else None."""
    prefix = target.prefix
    lower = prefix.lower().lstrip()
    how = " (target disusun dari potongan)" if target.built else ""
    scheme = _SCHEME.match(lower)
    if scheme and (scheme.group(2) or scheme.group(1) in ("data", "zlib")):
        name = scheme.group(1)
        if name == "file":
            return _judge_path(Target((prefix.lstrip()[scheme.end():], *target.parts[1:]),
                                      target.built))
        for wrapper, what in _STREAM_WRAPPERS.items():
            if lower.startswith(wrapper):
                return ("php_include_stream", "critical",
                        f"include/require menjalankan kode dari {what}{how}")
        if name == "data":
            return ("php_include_stream", "critical",
                    f"include/require menjalankan kode yang tertanam di URI data:{how}")
        if name == "expect":
            return ("php_include_command", "critical",
                    f"include/require lewat expect:// menjalankan perintah sistem{how}")
        if name in _REMOTE_SCHEMES:
            return ("php_include_remote", "critical",
                    f"include/require menjalankan kode dari internet ({name}://){how}")
        if lower.startswith("php://filter"):
            filters = lower.split("/resource=", 1)[0]
            if any(word in filters for word in DECODING_FILTERS):
                return ("php_include_decode_filter", "critical",
                        f"include/require membuka sandi berkas lewat php://filter lalu "
                        f"menjalankannya{how}")
        inner = re.split(r"[/#]", target.text.lower().lstrip()[scheme.end():])
        disguised = [segment for segment in inner if "." in segment and segment.rsplit(".", 1)[1]
                     in DATA_EXTENSIONS - ARCHIVE_EXTENSIONS]
        if disguised and name in ARCHIVE_WRAPPERS:
            return ("php_include_wrapper_media", "critical",
                    f"include/require menjalankan kode dari arsip atau data terkompresi yang "
                    f"menyamar sebagai {disguised[0]} (lewat {name}:){how}")
        return ("php_include_wrapper", "high",
                f"include/require memuat kode lewat pembungkus aliran {name}: yang menyembunyikan "
                f"isinya dari pemindai{how}")
    if not scheme and "://" in "".join(part for part in target.parts[1:] if part):
        return ("php_include_wrapper", "high",
                "include/require memuat kode lewat pembungkus aliran yang namanya disusun dari "
                "variabel")
    return _judge_path(target)


def _judge_path(target: Target) -> tuple[str, str, str] | None:
    prefix = target.prefix.lower().lstrip()
    how = " (target disusun dari potongan)" if target.built else ""
    if prefix.startswith(_SYSTEM_PREFIXES):
        return ("php_include_system_file", "critical",
                f"include/require menjalankan berkas sistem atau log ({target.text}){how}")
    tail = target.tail
    if not tail:
        return None
    slash = tail.rfind("/")
    basename = tail[slash + 1:] if slash >= 0 else tail
    whole_name = slash >= 0 or target.fully_known
    if whole_name and basename.lower().startswith("sess_"):
        return ("php_include_system_file", "critical",
                f"include/require menjalankan berkas sesi PHP ({target.text}){how}")
    if prefix.startswith(_TEMPORARY_PREFIXES):
        return ("php_include_temp_file", "high",
                f"include/require menjalankan berkas dari direktori sementara ({target.text}){how}")
    if whole_name and basename.startswith(".") and "." not in basename[1:]:
        # Hidden settings files (WordPress's .maintenance) are PHP by convention.
        return None
    if "." not in basename:
        if not whole_name or not basename:
            return None  # a name known only in part says nothing
        return ("php_include_unusual_name", "medium",
                f"include/require memuat berkas tanpa ekstensi ({target.text}){how}")
    extension = basename.rsplit(".", 1)[1].lower()
    if extension in PHP_SOURCE_EXTENSIONS:
        return None
    if extension in DATA_EXTENSIONS:
        return ("php_include_non_php", "high",
                f"include/require menjalankan berkas .{extension} sebagai kode PHP "
                f"({target.text}){how}")
    if not re.fullmatch(r"[a-z0-9_\-]{0,11}[a-z][a-z0-9_\-]{0,11}", extension) or len(extension) > 12:
        return None  # not an extension: a version, a query or part of a longer name
    if not whole_name:
        return None  # `$dir . '.name'` may be a hidden file as well as an extension
    return ("php_include_unusual_name", "medium",
            f"include/require memuat berkas berekstensi tak lazim .{extension} "
            f"({target.text}){how}")


# -- the scan ------------------------------------------------------------------------------------

def find_hidden_loads(code: str) -> Iterator[LoadHit]:
    """Yield includes and evals in comment-free PHP that run code hidden from the scanner."""
    resolver = Resolver(code)
    lines: LineIndex | None = None
    hits = _include_hits(code, resolver) + _eval_hits(code, resolver)
    for start, rule, severity, message in sorted(hits):
        lines = lines or LineIndex(code)
        yield LoadHit(rule, severity, lines.line(start), message)


# Where in the code, rule, severity and message.
_Hit = tuple[int, str, str, str]


def _include_hits(code: str, resolver: Resolver) -> list[_Hit]:
    """Return the include/require statements whose target is a file that hides code."""
    # Searched in the lower-cased code (same offsets: the code is decoded as latin-1).
    lowered = resolver.lowered
    hits: list[_Hit] = []
    for seen, (start, end) in enumerate(whole_words(lowered, ("include", "require"), ("_once", ""))):
        if seen >= MAX_KEYWORDS:
            break
        if not is_call_site(code, start) or not _starts_expression(lowered, start):
            continue
        argument = code[end: statement_end(code, end)]
        first = argument.lstrip()[:1]
        if not first or first not in "('\"$@_\\" and not first.isalpha():
            continue
        reported: set[str] = set()
        for target in resolver.targets(argument, start):
            verdict = judge(target)
            if verdict is not None and verdict[0] not in reported:
                reported.add(verdict[0])
                hits.append((start, *verdict))
    return hits


def _eval_hits(code: str, resolver: Resolver) -> list[_Hit]:
    """Return the eval() calls that run the contents of a file."""
    # assert() has not run strings as code since PHP 8, the runtime images' PHP.
    lowered = resolver.lowered
    hits: list[_Hit] = []
    for seen, (start, end) in enumerate(whole_words(lowered, ("eval",), ("",))):
        if seen >= MAX_KEYWORDS:
            break
        opening = end
        while opening < len(lowered) and lowered[opening] in " \t\r\n":
            opening += 1
        if opening < len(lowered) and lowered[opening] == "(" and is_call_site(code, start):
            verdict = _evaluated_file(code, resolver, start, opening + 1)
            if verdict is not None:
                hits.append((start, *verdict))
    return hits


def _starts_expression(lowered: str, start: int) -> bool:
    """Whether a keyword at `start` stands where a statement or an operand begins."""
    before = start - 1
    while before >= 0 and lowered[before].isspace():
        before -= 1
    if before < 0:
        return True
    return _STATEMENT_BEFORE.search(lowered, max(0, before - 6), before + 1) is not None


def _evaluated_file(code: str, resolver: Resolver, start: int,
                    argument_start: int) -> tuple[str, str, str] | None:
    """Judge an eval of what a file holds: `$c = file_get_contents(X); eval('?>' . $c);`."""
    argument = code[argument_start: statement_end(code, argument_start)]
    reads = _read_paths(resolver, argument, start, 0)
    if not reads:
        return None
    if any(judge(target) is not None for path, at in reads for target in resolver.targets(path, at)):
        return ("php_eval_hidden_file", "critical",
                "eval() menjalankan isi berkas bukan-PHP atau aliran tersembunyi")
    return ("php_eval_file", "high", "eval() menjalankan isi sebuah berkas")


def _read_paths(resolver: Resolver, expression: str, offset: int,
                depth: int) -> list[tuple[str, int]]:
    """Return (path expression, offset) of the files `expression` reads, through its variables."""
    found = []
    for read in _READ_CALL.finditer(expression):
        if not is_call_site(expression, read.start()):
            continue
        first = expression[read.end(): statement_end(expression, read.end())]
        if read.group(1).lower() in _HANDLE_READERS:
            handle = PLAIN_VARIABLE.match(first.strip())
            opened = resolver.last_assignment(handle.group(0), offset) if handle else None
            opening = _OPEN_CALL.match(opened) if opened else None
            if opened is not None and opening is not None:
                found.append((opened[opening.end(): statement_end(opened, opening.end())], offset))
        else:
            found.append((first, offset))
    if found or depth >= MAX_RESOLVE_DEPTH:
        return found
    for name in dict.fromkeys(_VARIABLE_NAME.findall(expression)):
        assigned = resolver.last_assignment_at(name, offset)
        if assigned is not None:
            found.extend(_read_paths(resolver, assigned[0], assigned[1], depth + 1))
    return found
