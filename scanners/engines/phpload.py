"""Where PHP code loads more code from: the targets of includes, and files read then evaluated.

Code hidden in a picture, a compressed stream or the request body only runs through an include (or
an eval of what a file holds). This resolves each target as far as the file itself allows (string
literals, concatenation, escapes, simple decoders, constants, and variables given a value earlier in
the same function) and judges where it points: a stream wrapper, a file that is not PHP, a temporary
or system location. Like the rest of the PHP analysis, it reads comment-free code and is no parser.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from scanners.engines.phpcode import (
    DECODERS,
    LineIndex,
    decode_call,
    decode_escapes,
    is_call_site,
)

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

MAX_ARGUMENT_CHARS = 1000
MAX_RESOLVE_DEPTH = 3
MAX_ALTERNATIVES = 8
# Bounds on the work one file can ask for, however it is written.
MAX_KEYWORDS = 2000  # occurrences of each keyword pair read in one file
MAX_LOOKUPS = 500
MAX_LOOKBACK_CHARS = 32 * 1024

# What may come right before an include that starts or sits inside an expression.
_STATEMENT_BEFORE = re.compile(
    r"(?:[;{}():,=!@?.&|\[]|<\?php|<\?|\breturn|\belse|\bdo|\band|\bor|\bxor|\becho|\bprint)\Z")
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.\-]{1,30}):(//)?")
_IDENTIFIER_CALL = re.compile(r"([A-Za-z_\\][\w\\]*)\s*\(")
_PLAIN_VARIABLE = re.compile(r"\$[A-Za-z_\x80-\xff][\w\x80-\xff]*\Z")
_CONSTANT = re.compile(r"(?:\\?[A-Za-z_][\w]*\\)*([A-Za-z_]\w*)\Z")
_CLASS_CONSTANT = re.compile(r"(?:self|static)\s*::\s*([A-Za-z_]\w*)\Z", re.I)
_NAME = re.compile(r"(?:\$+|\\)?[A-Za-z_\x80-\xff][\w\x80-\xff\\]*")
_MEMBER = re.compile(r"\s*(?:->|\?->|::)\s*\$?[A-Za-z_\x80-\xff][\w\x80-\xff]*")
_INTERPOLATION = re.compile(
    r"\{\$[^}]{1,200}\}|\$\{[^}]{1,200}\}|\$[A-Za-z_\x80-\xff][\w\x80-\xff]*(?:\[[^\]]{0,80}\]|->\w+)?")
# Matched where the lower-cased code has "define" or "const" (found with str.find, far faster).
_DEFINE = re.compile(
    r"define\s*\(\s*['\"]([A-Za-z_]\w*)['\"]\s*,\s*([^;]{1,400}?)\)\s*;"
    r"|const\s+([A-Za-z_]\w*)\s*=\s*([^;]{1,400});", re.I)
# Calls that read a file, by name or (the handle readers) through a handle from fopen().
_READ_CALL = re.compile(
    r"\b(file_get_contents|gzfile|readgzfile|file|fread|fgets|stream_get_contents)\s*\(", re.I)
_HANDLE_READERS = frozenset({"fread", "fgets", "stream_get_contents"})
_OPEN_CALL = re.compile(r"\s*@?\s*(?:fopen|gzopen|bzopen)\s*\(", re.I)
_VARIABLE_NAME = re.compile(r"\$[A-Za-z_\x80-\xff][\w\x80-\xff]*")

UNKNOWN = None


@dataclass(frozen=True)
class LoadHit:
    """A place where a file loads code from somewhere it should not."""

    rule: str
    severity: str
    line: int
    message: str


@dataclass(frozen=True)
class Target:
    """An include target: known text and unknown pieces (None), and whether it had to be built."""

    parts: tuple[str | None, ...]
    built: bool = False

    @property
    def prefix(self) -> str:
        """The known text the target starts with."""
        known = []
        for part in self.parts:
            if part is None:
                break
            known.append(part)
        return "".join(known)

    @property
    def tail(self) -> str:
        """The known text after the last unknown piece."""
        known: list[str] = []
        for part in reversed(self.parts):
            if part is None:
                break
            known.append(part)
        return "".join(reversed(known))

    @property
    def fully_known(self) -> bool:
        return None not in self.parts

    @property
    def text(self) -> str:
        return "".join("\u2026" if part is None else part for part in self.parts)


# -- reading expressions -------------------------------------------------------------------------

def _skip_string(code: str, index: int) -> int:
    """Return the index just past the string literal opening at `index`."""
    quote = code[index]
    index += 1
    while index < len(code):
        ch = code[index]
        if ch == "\\":
            index += 2
            continue
        if ch == quote:
            return index + 1
        index += 1
    return index


def statement_end(code: str, start: int, limit: int = MAX_ARGUMENT_CHARS) -> int:
    """Return where the expression starting at `start` ends (a `;`, `?>`, `,` or unopened bracket)."""
    depth = 0
    index = start
    end = min(len(code), start + limit)
    while index < end:
        ch = code[index]
        if ch in "'\"":
            index = _skip_string(code, index)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return index
            depth -= 1
        elif depth == 0 and (ch == ";" or ch == "," or code.startswith("?>", index)):
            return index
        index += 1
    return index


def _split_top(expression: str, separators: tuple[str, ...]) -> list[str]:
    """Split `expression` at separators that stand outside strings and brackets."""
    if not any(separator in expression for separator in separators):
        return [expression]
    parts, depth, current, index = [], 0, 0, 0
    while index < len(expression):
        ch = expression[index]
        if ch in "'\"":
            index = _skip_string(expression, index)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            for separator in separators:
                if expression.startswith(separator, index):
                    parts.append(expression[current:index])
                    index += len(separator)
                    current = index
                    break
            else:
                index += 1
            continue
        index += 1
    parts.append(expression[current:])
    return parts


def _concatenated(expression: str) -> list[str]:
    """Split at the concatenation operator `.` (not a decimal point, `.=` or `...`)."""
    pieces: list[str] = []
    for piece in _split_top(expression, (".",)):
        if pieces and (piece[:1].isdigit() and pieces[-1][-1:].isdigit() or piece[:1] in ("=", ".")):
            pieces[-1] += "." + piece
        else:
            pieces.append(piece)
    return pieces


def _alternatives(expression: str) -> list[str]:
    """Return the values an expression may take: both sides of `??` and of a ternary."""
    text = expression.strip()
    for separator in (" or ", " and ", "||", "&&"):
        text = _split_top(text, (separator,))[0]
    sides = _split_top(text, ("??",))
    if len(sides) > 1:
        return [value for side in sides for value in _alternatives(side)]
    condition = _split_top(text, ("?",))
    if len(condition) == 2 and not condition[1].startswith(("-", ">")):
        branches = [b for b in _split_top(condition[1], (":",)) if b.strip()]
        if len(branches) == 2 and "::" not in condition[1]:
            return [value for branch in branches for value in _alternatives(branch)]
    return [text]


def _unwrap(piece: str) -> str:
    text = piece.strip()
    while text.startswith("@"):
        text = text[1:].strip()
    while text.startswith("(") and text.endswith(")") and statement_end(text, 1) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _is_opaque(text: str) -> bool:
    """Whether `text` is code this module does not evaluate: a call, a property, an index."""
    name = _NAME.match(text)
    if name is None:
        return False
    index = name.end()
    while index < len(text):
        member = _MEMBER.match(text, index)
        if member is not None:
            index = member.end()
            continue
        while index < len(text) and text[index].isspace():
            index += 1
        if index < len(text) and text[index] in "([":
            end = statement_end(text, index + 1)
            if end >= len(text) or text[end] != {"(": ")", "[": "]"}[text[index]]:
                return False
            index = end + 1
            continue
        return index == len(text)
    return True


def _joined(left: Target, right: Target) -> Target:
    """Concatenate two targets, merging neighbouring known text and unknown pieces."""
    merged: list[str | None] = list(left.parts)
    for part in right.parts:
        if merged and part is not None and merged[-1] is not None:
            merged[-1] = str(merged[-1]) + part
        elif not (part is None and merged and merged[-1] is None):
            merged.append(part)
    built = left.built or right.built or bool(left.parts and right.parts)
    return Target(tuple(merged), built)


class Resolver:
    """Resolves include targets in one comment-free PHP file."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.lowered = code.lower()
        self._definitions: dict[str, str] | None = None
        self._functions: list[int] | None = None
        self.lookups = 0

    def constant(self, name: str, depth: int, seen: set[str]) -> Target | None:
        """Return the value a constant defined in this file holds, when it has just one."""
        if self._definitions is None:
            self._definitions = {}
            for word in ("define", "const"):
                for start, _end in _words(self.lowered, (word,), ("",)):
                    match = _DEFINE.match(self.code, start)
                    if match is not None:
                        self._definitions.setdefault(match.group(1) or match.group(3),
                                                     match.group(2) or match.group(4))
        definition = self._definitions.get(name)
        if definition is None or name in seen or depth >= MAX_RESOLVE_DEPTH:
            return None
        targets = self._values(definition, len(self.code), depth + 1, seen | {name})
        return Target(targets[0].parts, True) if targets and len(targets) == 1 else None

    def targets(self, expression: str, offset: int) -> list[Target]:
        """Return what `expression` (at `offset` in the file) may evaluate to."""
        return self._values(expression, offset, 0, set()) or []

    def _values(self, expression: str, offset: int, depth: int,
                seen: set[str]) -> list[Target] | None:
        """Return the values an expression may take; None when it is not one this module reads."""
        results: list[Target] = []
        for alternative in _alternatives(_unwrap(expression)):
            combined = [Target(())]
            for piece in _concatenated(_unwrap(alternative)):
                options = self._operand(_unwrap(piece), offset, depth, seen)
                if options is None:
                    return None  # prose, or a syntax this module skips
                combined = [_joined(left, right) for left in combined
                            for right in options][:MAX_ALTERNATIVES]
            results.extend(combined)
        return [target for target in results if target.parts][:MAX_ALTERNATIVES]

    def _operand(self, text: str, offset: int, depth: int,
                 seen: set[str]) -> list[Target] | None:
        if not text:
            return None
        first = text[0]
        if first in "'\"" and _skip_string(text, 0) == len(text):
            body = text[1:-1]
            if first == "'":
                return [Target((body.replace("\\\\", "\\").replace("\\'", "'"),))]
            return [self._double_quoted(body, offset, depth, seen)]
        if _PLAIN_VARIABLE.match(text):
            return self._variable(text, offset, depth, seen) or [Target((UNKNOWN,))]
        call = _IDENTIFIER_CALL.match(text)
        if call and text.endswith(")") and statement_end(text, call.end()) == len(text) - 1:
            return [self._call(call.group(1).lower().lstrip("\\"), text[call.end():-1], offset,
                               depth, seen)]
        if text.upper() == "DIRECTORY_SEPARATOR":
            return [Target(("/",))]
        constant = _CLASS_CONSTANT.match(text) or _CONSTANT.match(text)
        if constant and not text.startswith("$"):
            return [self.constant(constant.group(1), depth, seen) or Target((UNKNOWN,))]
        if _is_opaque(text):
            return [Target((UNKNOWN,))]
        return None

    def _double_quoted(self, body: str, offset: int, depth: int, seen: set[str]) -> Target:
        parts: list[str | None] = []
        built = "\\" in body
        position = 0
        for match in _INTERPOLATION.finditer(body):
            parts.append(decode_escapes(body[position:match.start()]))
            variable = match.group(0)
            resolved = None
            if _PLAIN_VARIABLE.match(variable):
                resolved = self._variable(variable, offset, depth, seen)
            parts.extend(resolved[0].parts if resolved and len(resolved) == 1 else (UNKNOWN,))
            built = True
            position = match.end()
        parts.append(decode_escapes(body[position:]))
        return _joined(Target(()), Target(tuple(parts), built))

    def _call(self, name: str, arguments: str, offset: int, depth: int,
              seen: set[str]) -> Target:
        if name == "chr":
            number = arguments.strip().lower()
            try:
                value = int(number, 16) if number.startswith("0x") else int(number)
            except ValueError:
                return Target((UNKNOWN,))
            return Target((chr(value & 0xFF),), built=True)
        if (name in DECODERS or name == "rawurldecode") and depth < MAX_RESOLVE_DEPTH:
            inner = self._values(arguments, offset, depth + 1, seen)
            if inner and len(inner) == 1 and inner[0].fully_known:
                decoded = decode_call(name, inner[0].prefix)
                if decoded is not None:
                    return Target((decoded,), built=True)
        return Target((UNKNOWN,))

    def _variable(self, name: str, offset: int, depth: int,
                  seen: set[str]) -> list[Target] | None:
        """Return the values last given to `name` before `offset` in the same function."""
        if depth >= MAX_RESOLVE_DEPTH or name in seen or name == "$this":
            return None
        value = self.last_assignment(name, offset)
        if value is None:
            return None
        targets = self._values(value, offset, depth + 1, seen | {name})
        return [Target(target.parts, True) for target in targets] if targets else None

    def last_assignment(self, name: str, offset: int) -> str | None:
        """Return the expression last assigned to `name` before `offset` in the same function."""
        assigned = self.last_assignment_at(name, offset)
        return assigned[0] if assigned is not None else None

    def last_assignment_at(self, name: str, offset: int) -> tuple[str, int] | None:
        """Return the expression last assigned to `name` before `offset`, and where it stands."""
        if self.lookups >= MAX_LOOKUPS:
            return None
        self.lookups += 1
        assignment = re.compile(re.escape(name) + r"\s*(\.?=)(?![=>])\s*")
        last = None
        start = max(self.scope_start(offset), offset - MAX_LOOKBACK_CHARS)
        for match in assignment.finditer(self.code, start, offset):
            if is_call_site(self.code, match.start()):
                last = match
        if last is None or last.group(1) == ".=":
            return None  # appended to: its value is not one expression
        return self.code[last.end(): statement_end(self.code, last.end())], last.start()

    def scope_start(self, offset: int) -> int:
        """Return where the function holding `offset` starts (0 outside any function)."""
        if self._functions is None:
            self._functions = [start for start, _end in _words(self.lowered, ("function",), ("",))]
        before = bisect.bisect_left(self._functions, offset)
        return self._functions[before - 1] if before else 0


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
    # Searched in the lower-cased code (same offsets: the code is decoded as latin-1).
    lowered = resolver.lowered
    hits: list[tuple[int, str, str, str]] = []
    for seen, (start, end) in enumerate(_words(lowered, ("include", "require"), ("_once", ""))):
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
    # assert() has not run strings as code since PHP 8, the runtime images' PHP.
    for seen, (start, end) in enumerate(_words(lowered, ("eval",), ("",))):
        if seen >= MAX_KEYWORDS:
            break
        opening = end
        while opening < len(lowered) and lowered[opening] in " \t\r\n":
            opening += 1
        if opening < len(lowered) and lowered[opening] == "(" and is_call_site(code, start):
            verdict = _evaluated_file(code, resolver, start, opening + 1)
            if verdict is not None:
                hits.append((start, *verdict))
    for start, rule, severity, message in sorted(hits):
        lines = lines or LineIndex(code)
        yield LoadHit(rule, severity, lines.line(start), message)


def _words(lowered: str, words: tuple[str, ...], suffixes: tuple[str, ...]) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each of `words` (plus one of `suffixes`) standing as a whole word."""
    for word in words:
        position = lowered.find(word)
        while position >= 0:
            end = position + len(word)
            end += next(len(suffix) for suffix in suffixes if lowered.startswith(suffix, end))
            if (position == 0 or not _is_word_character(lowered[position - 1])) and (
                end >= len(lowered) or not _is_word_character(lowered[end])
            ):
                yield position, end
            position = lowered.find(word, end)


def _is_word_character(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ch >= "\x80"


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
            handle = _PLAIN_VARIABLE.match(first.strip())
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
