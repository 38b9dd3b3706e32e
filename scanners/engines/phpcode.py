"""Light PHP source analysis: comment removal, deobfuscation and request-input tracking.

This is not a PHP parser. It undoes the tricks webshells use to hide function names and payloads
(string escapes, chr() building, concatenation, strrev/str_rot13/base64/gzinflate, str_replace),
then follows request input through simple assignments into dangerous calls.
"""
from __future__ import annotations

import base64
import binascii
import bisect
import codecs
import functools
import re
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# Functions that run code or commands, by how they take their payload.
CODE_SINKS = ("eval", "assert", "create_function")
COMMAND_SINKS = ("system", "exec", "shell_exec", "passthru", "popen", "proc_open", "pcntl_exec")
CALLBACK_SINKS = (
    "call_user_func", "call_user_func_array", "array_map", "register_shutdown_function",
    "register_tick_function", "forward_static_call", "forward_static_call_array", "ob_start",
)
# Functions taking the callback as their second argument.
SECOND_CALLBACK_SINKS = ("array_walk", "array_walk_recursive", "array_filter", "usort", "uasort",
                         "uksort", "array_reduce", "preg_replace_callback", "iterator_apply")
INCLUDE_SINKS = ("include", "include_once", "require", "require_once")
# Names whose appearance as a built string (not written plainly) means someone hid them.
DANGEROUS_NAMES = frozenset(
    CODE_SINKS + COMMAND_SINKS + CALLBACK_SINKS
    + ("base64_decode", "gzinflate", "gzuncompress", "str_rot13", "file_put_contents",
       "move_uploaded_file", "fwrite", "preg_replace", "array_filter", "usort", "uasort")
)

SOURCE_RE = re.compile(
    r"\$_(?:GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*['\"]HTTP_"
    r"|\b(?:getallheaders|apache_request_headers)\s*\(|php://input"
    r"|\$HTTP_(?:GET|POST|RAW_POST|COOKIE)_VARS\b"
)

_LEX = re.compile(
    r"(?P<sq>'(?:[^'\\]++|\\.)*+')"
    r"|(?P<dq>\"(?:[^\"\\]++|\\.)*+\")"
    r"|(?P<block>/\*.*?(?:\*/|\Z))"
    r"|(?P<line>(?://|\#(?!\[))[^\n]*)",
    re.S,
)


def _keep_newlines(text: str) -> str:
    return "\n" * text.count("\n")


def strip_comments(code: str) -> str:
    """Remove PHP comments, keeping strings and the line count intact."""

    def replace(match: re.Match[str]) -> str:
        if match.lastgroup in ("sq", "dq"):
            return match.group(0)
        return " " + _keep_newlines(match.group(0))

    return _LEX.sub(replace, code)


# -- deobfuscation ------------------------------------------------------------------------------

_DQ_ESCAPE = re.compile(r"\"((?:[^\"\\\n]++|\\.)*+)\"")
_ESCAPES = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u\{[0-9a-fA-F]{1,6}\}|[nrtvef\\$\"])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "e": "\x1b", "f": "\f",
           "\\": "\\", "$": "$", '"': '"'}
_CHR = re.compile(r"\bchr\s*\(\s*(0x[0-9a-fA-F]{1,2}|\d{1,3})\s*\)", re.I)
_CONCAT = re.compile(r"'([^'\\\n]{0,200})'\s*\.\s*'([^'\\\n]{0,200})'")
_CALL_ON_LITERAL = re.compile(
    r"\b(strrev|str_rot13|base64_decode|hex2bin|urldecode|rawurldecode|strtolower|strtoupper"
    r"|ucfirst|trim)\s*\(\s*'([^'\\]{1,100000})'\s*\)",
    re.I,
)
_GZ_ON_BASE64 = re.compile(
    r"\b(gzinflate|gzuncompress|gzdecode)\s*\(\s*base64_decode\s*\(\s*'([A-Za-z0-9+/=\s]{8,})'"
    r"\s*\)\s*\)",
    re.I,
)
_STR_REPLACE = re.compile(
    r"\bstr_replace\s*\(\s*'([^'\\]{1,20})'\s*,\s*'([^'\\]{0,20})'\s*,\s*'([^'\\]{1,2000})'\s*\)",
    re.I,
)
_SUPERGLOBAL_ALIAS = re.compile(
    r"\$\{\s*'(_(?:GET|POST|REQUEST|COOKIE|FILES|SERVER))'\s*\}"
    r"|\$GLOBALS\s*\[\s*'(_(?:GET|POST|REQUEST|COOKIE|FILES|SERVER))'\s*\]"
)
DECODERS = ("strrev", "str_rot13", "base64_decode", "hex2bin", "urldecode", "strtolower",
             "strtoupper", "ucfirst", "trim")
# Triggers are searched in the lower-cased code: far faster than re.I, and a trigger only decides
# whether a step is worth running, so matching a little more than the step would is harmless.
_TRIGGER_ESCAPE = re.compile(
    r"\\(?:x[0-9a-f]|[0-7]{2}|u\{)|\"\s*\.|\.\s*\"|\$\{\s*\"|\(\s*\"[a-z0-9+/=_]{4,}\"\s*\)")
_TRIGGER_CHR = re.compile(r"chr\s*\(")
_TRIGGER_CONCAT = re.compile(r"'\s*\.\s*'")
_TRIGGER_CALL = re.compile(
    r"(?:strrev|str_rot13|base64_decode|hex2bin|urldecode|strtolower|strtoupper|ucfirst|trim)"
    r"\s*\(\s*'")
_TRIGGER_GZ = re.compile(r"gz\w+\s*\(\s*base64_decode")
_TRIGGER_REPLACE = re.compile(r"str_replace\s*\(\s*'")
_TRIGGER_ALIAS = re.compile(r"\$\{|\$globals")
_LONG_LITERAL = re.compile(r"'([A-Za-z0-9+/=\s]{200,})'|\"([A-Za-z0-9+/=\s]{200,})\"")

_SHORT_LITERAL_MAX = 120


@dataclass
class Payload:
    """Text recovered by decoding a literal, with the line where the literal is."""

    line: int
    text: str
    how: str


@dataclass
class Normalized:
    code: str
    changed: bool = False
    built_names: set[str] = field(default_factory=set)
    payloads: list[Payload] = field(default_factory=list)


def decode_escapes(body: str) -> str:
    """Return the text a double-quoted PHP string body stands for (escapes undone)."""

    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if token[0] == "x":
            return chr(int(token[1:], 16))
        if token[0] == "u":
            return chr(int(token[2:-1], 16))
        if token[0] in "01234567":
            return chr(int(token, 8) & 0xFF)
        return _SIMPLE[token]

    return _ESCAPES.sub(one, body)


def _literal(value: str) -> str | None:
    """Return `value` as a single-quoted PHP literal when it is short plain text, else None."""
    if len(value) > _SHORT_LITERAL_MAX or not value.isprintable() or "'" in value or "\\" in value:
        return None
    return "'" + value + "'"


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return good / len(text)


def decode_call(function: str, argument: str) -> str | None:
    """Return what a decoder (strrev, base64_decode...) makes of a literal; None when it cannot."""
    function = function.lower()
    try:
        if function == "strrev":
            return argument[::-1]
        if function == "str_rot13":
            return codecs.encode(argument, "rot13")
        if function == "base64_decode":
            raw = base64.b64decode(re.sub(r"\s+", "", argument) + "===", validate=False)
            return raw.decode("latin-1")
        if function == "hex2bin":
            return binascii.unhexlify(argument.strip()).decode("latin-1")
        if function in ("urldecode", "rawurldecode"):
            return urllib.parse.unquote_to_bytes(argument).decode("latin-1")
        if function == "strtolower":
            return argument.lower()
        if function == "strtoupper":
            return argument.upper()
        if function == "ucfirst":
            return argument[:1].upper() + argument[1:]
        if function == "trim":
            return argument.strip()
    except (ValueError, binascii.Error):
        return None
    return None


def inflate(raw: bytes) -> bytes | None:
    """Undo gzinflate, gzuncompress or gzdecode, whichever fits; None when none does."""
    for wbits in (-zlib.MAX_WBITS, zlib.MAX_WBITS, zlib.MAX_WBITS | 16):
        try:
            decompressor = zlib.decompressobj(wbits)
            out = decompressor.decompress(raw, 4 * 1024 * 1024)
            if out:
                return out
        except zlib.error:
            continue
    return None


def _line_of(code: str, offset: int) -> int:
    return code.count("\n", 0, offset) + 1


def _substitute(pattern: re.Pattern[str], code: str,
                make: Callable[[re.Match[str]], str | None]) -> tuple[str, bool]:
    changed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal changed
        new = make(match)
        if new is None:
            return match.group(0)
        changed = True
        return new + _keep_newlines(match.group(0))

    return pattern.sub(replace, code), changed


def normalize(code: str, max_rounds: int = 4) -> Normalized:
    """Undo string-building tricks in comment-free PHP code, collecting decoded payloads."""
    result = Normalized(code)
    seen_payloads: set[str] = set()

    def record(match: re.Match[str], text: str, how: str) -> None:
        if text in seen_payloads or len(text) < 16:
            return
        seen_payloads.add(text)
        result.payloads.append(Payload(_line_of(result.code, match.start()), text, how))

    def on_dq(match: re.Match[str]) -> str | None:
        body = match.group(1)
        if len(body) > 1000 or "$" in body:
            return None
        return _literal(decode_escapes(body) if "\\" in body else body)

    def on_chr(match: re.Match[str]) -> str | None:
        token = match.group(1)
        value = int(token, 16) if token.lower().startswith("0x") else int(token)
        return _literal(chr(value)) if 32 <= value < 127 else None

    def on_concat(match: re.Match[str]) -> str | None:
        return _literal(match.group(1) + match.group(2))

    def on_call(match: re.Match[str]) -> str | None:
        decoded = decode_call(match.group(1), match.group(2))
        if decoded is None:
            return None
        short = _literal(decoded)
        if short is not None:
            return short
        if match.group(1).lower() == "base64_decode":
            raw = decoded.encode("latin-1")
            inflated = inflate(raw)
            if inflated is not None:
                record(match, inflated.decode("latin-1"), "base64+inflate")
                return None
        if _printable_ratio(decoded) > 0.9:
            record(match, decoded, match.group(1).lower())
        return None

    def on_gz(match: re.Match[str]) -> str | None:
        try:
            raw = base64.b64decode(re.sub(r"\s+", "", match.group(2)) + "===")
        except (ValueError, binascii.Error):
            return None
        inflated = inflate(raw)
        if inflated is None:
            return None
        text = inflated.decode("latin-1")
        short = _literal(text)
        if short is None:
            record(match, text, "gzinflate(base64_decode)")
        return short

    def on_replace(match: re.Match[str]) -> str | None:
        return _literal(match.group(3).replace(match.group(1), match.group(2)))

    def on_alias(match: re.Match[str]) -> str | None:
        return "$" + (match.group(1) or match.group(2))

    # Each step runs only when its trigger is in the file: most files need few of them.
    # A plain substring test comes first; it is far cheaper than the trigger's regex.
    candidates: list[tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str],
                           Callable[[re.Match[str]], str | None]]] = [
        (("\\", '"'), _TRIGGER_ESCAPE, _DQ_ESCAPE, on_dq),
        (("chr",), _TRIGGER_CHR, _CHR, on_chr),
        (("'",), _TRIGGER_CONCAT, _CONCAT, on_concat),
        (DECODERS, _TRIGGER_CALL, _CALL_ON_LITERAL, on_call),
        (("gz",), _TRIGGER_GZ, _GZ_ON_BASE64, on_gz),
        (("str_replace",), _TRIGGER_REPLACE, _STR_REPLACE, on_replace),
        (("${", "$globals"), _TRIGGER_ALIAS, _SUPERGLOBAL_ALIAS, on_alias),
    ]
    for _round in range(max_rounds):
        round_changed = False
        # Triggers are checked again each round: one step's output feeds another's input.
        lower = result.code.lower()
        steps = [(pattern, make) for needles, trigger, pattern, make in candidates
                 if any(needle in lower for needle in needles) and trigger.search(lower)]
        for pattern, make in steps:
            for _repeat in range(32 if pattern is _CONCAT else 1):
                result.code, changed = _substitute(pattern, result.code, make)
                round_changed |= changed
                if not changed:
                    break
        result.changed |= round_changed
        if not round_changed:
            break
    for match in _LONG_LITERAL.finditer(result.code):
        _decode_blob(match, result, record)
    if result.changed:
        original = set(re.findall(r"[a-z_0-9]+", code.lower()))
        for literal in re.findall(r"'([A-Za-z_][\w]{1,40})'", result.code):
            lower = literal.lower()
            if lower in DANGEROUS_NAMES and lower not in original:
                result.built_names.add(lower)
    return result


def _decode_blob(match: re.Match[str], result: Normalized,
                 record: Callable[[re.Match[str], str, str], None]) -> None:
    """Try to read a long base64 literal as (compressed, rotated or reversed) PHP."""
    blob = re.sub(r"\s+", "", match.group(1) or match.group(2) or "")
    candidates = [("base64", blob), ("strrev+base64", blob[::-1]),
                  ("rot13+base64", codecs.encode(blob, "rot13"))]
    for how, text in candidates:
        try:
            raw = base64.b64decode(text + "===")
        except (ValueError, binascii.Error):
            continue
        for label, data in ((how, raw), (how + "+inflate", inflate(raw))):
            if not data:
                continue
            decoded = data.decode("latin-1")
            if looks_like_php(decoded):
                record(match, decoded, label)
                return


_PHP_HINT = re.compile(
    r"<\?php|\b(?:eval|assert|system|shell_exec|passthru|base64_decode|gzinflate|preg_replace"
    r"|create_function|move_uploaded_file|file_put_contents|fwrite|exec|popen)\s*\(|\$_(?:GET|POST"
    r"|REQUEST|COOKIE|SERVER|FILES)\b|\$[A-Za-z_]\w*\s*=",
)


def looks_like_php(text: str) -> bool:
    """Return whether decoded text reads like PHP code rather than binary or prose."""
    return _printable_ratio(text[:4096]) > 0.85 and _PHP_HINT.search(text) is not None


# -- request-input tracking ----------------------------------------------------------------------

# Functions that hand their argument on unchanged in substance: decoders and trivial transforms.
# Any other call in between (a sanitizer, a lookup, a method) ends the tracking.
PASS_THROUGH = (
    "trim", "rtrim", "ltrim", "stripslashes", "stripcslashes", "urldecode", "rawurldecode",
    "base64_decode", "str_rot13", "strrev", "gzinflate", "gzuncompress", "gzdecode", "hex2bin",
    "html_entity_decode", "htmlspecialchars_decode", "strval", "convert_uudecode", "strtolower",
    "strtoupper", "str_replace", "substr", "implode", "join", "reset", "current", "end",
    "array_values", "array_pop", "array_shift", "array",
)
# Functions worth hiding behind a variable: calling them as `$f(...)` has no honest reason.
HIDDEN_CALL_NAMES = frozenset(CODE_SINKS + COMMAND_SINKS + ("call_user_func",
                                                            "call_user_func_array"))

_VAR = r"\$[A-Za-z_\x80-\xff][\w\x80-\xff]*"
_INDEX = r"(?:\s*(?:\[[^\]\n]{0,80}\]|\{[^}\n]{0,80}\}))*"
_SOURCE_EXPR = re.compile(
    r"\$_(?:GET|POST|REQUEST|COOKIE|FILES)\b" + _INDEX
    + r"|\$_SERVER\s*\[\s*['\"](?:HTTP_\w+|QUERY_STRING|REQUEST_URI|PATH_INFO)['\"]\s*\]" + _INDEX
    + r"|\$HTTP_(?:GET|POST|RAW_POST|COOKIE)_VARS\b" + _INDEX
    + r"|\b(?:getallheaders|apache_request_headers)\s*\(\s*\)" + _INDEX
    + r"|\bfile_get_contents\s*\(\s*'php://input'\s*\)"
)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_CONDITION = re.compile(
    r"\b(?:isset|empty|is_string|is_array|array_key_exists|strlen|count)\s*\((?:[^()]|\([^()]*\))*\)",
    re.I,
)
_PASS_CALL = re.compile(r"\b(?:" + "|".join(PASS_THROUGH) + r")\s*\(", re.I)
_NOISE = re.compile(
    r"\((?:string|array|binary)\)|[\s.?:(),@!=<>&|+\-]+|\b\d+\b|\b(?:true|false|null)\b", re.I
)
_ASSIGN = re.compile(rf"({_VAR}){_INDEX}\s*(?:\.|\?\?)?=(?![=>])\s*([^;]{{0,1000}})")
_FOREACH = re.compile(
    rf"foreach\s*\(\s*([^;{{]{{0,200}}?)\s+as\s+({_VAR})(?:\s*=>\s*&?\s*({_VAR}))?", re.I
)
_LIST_ASSIGN = re.compile(
    rf"(?:\blist\s*\(|\[)((?:\s*{_VAR}\s*,?)+)[\])]\s*=(?!=)\s*([^;]{{0,400}})"
)
_EXTRACT = re.compile(
    r"\b(?:extract|import_request_variables)\s*\(\s*(?:@\s*)?\$_\w+"
    r"|\bparse_str\s*\(\s*(?:@\s*)?\$_\w+(?:\s*\[[^\]]*\])?\s*\)",
    re.I,
)
_VAR_CALL = re.compile(rf"({_VAR})\s*\(")
_ASSIGNED = re.compile(rf"({_VAR})\s*=(?![=>])")
_LITERAL_ASSIGN = re.compile(rf"({_VAR})\s*=\s*'([A-Za-z_][\w]{{1,40}})'\s*;")
_BACKTICK = re.compile(r"`([^`'\"]{1,400})`")
_BACKTICK_CONTEXT = re.compile(r"(?:[=(;.,]|\becho|\bprint|\breturn|<\?=)\s*@?\s*\Z")
_VALIDATION = re.compile(
    r"\b(?:in_array|array_key_exists|array_search|preg_match|ctype_alnum|ctype_alpha|basename"
    r"|realpath|switch)\s*\(|\bisset\s*\(\s*\$\w+\s*\[\s*\$", re.I)
_SHELL_ESCAPE = re.compile(r"escapeshell(?:arg|cmd)\s*\(", re.I)
# Matched without a look-behind (which would defeat the regex engine's prefix search);
# `is_call_site` checks the character before instead.
_SINK_CALL = re.compile(
    r"\b(eval|assert|create_function|system|exec|shell_exec|passthru|popen|proc_open"
    r"|pcntl_exec|call_user_func_array|call_user_func|array_map|register_shutdown_function"
    r"|array_walk_recursive|array_walk|array_filter|usort|uasort|uksort|array_reduce"
    r"|preg_replace_callback|iterator_apply"
    r"|ob_start|include_once|include|require_once|require|file_put_contents|fopen|preg_replace)"
    r"\b\s*\(?",
    re.I,
)


@dataclass(frozen=True)
class TaintHit:
    rule: str
    severity: str
    line: int
    message: str


def call_arguments(code: str, start: int, limit: int = 600) -> str:
    """Return the text between the parenthesis at `start` (or the statement) and its match."""
    if start >= len(code) or code[start] != "(":
        end = code.find(";", start, start + limit)
        return code[start: end if end >= 0 else start + limit]
    depth = 0
    for index in range(start, min(len(code), start + limit)):
        ch = code[index]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return code[start + 1: index]
    return code[start + 1: start + limit]


def split_arguments(arguments: str) -> list[str]:
    """Split a call's argument text at top-level commas."""
    parts, depth, current = [], 0, 0
    quote = ""
    for index, ch in enumerate(arguments):
        if quote:
            if ch == quote and arguments[index - 1] != "\\":
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(arguments[current:index])
            current = index + 1
    parts.append(arguments[current:])
    return parts


_VAR_NAME = re.compile(_VAR)
_VAR_INDEXED = re.compile(f"({_VAR}){_INDEX}")


def _may_hold_source(text: str) -> bool:
    """Cheap test before the source regex, which cannot use a literal prefix."""
    return "$_" in text or "$HTTP_" in text or "headers" in text or "php://" in text


class Taint:
    """Which variables of one PHP file hold request input, tracked flow-insensitively.

    `variables` hold the input itself (at most decoded, trimmed or concatenated): enough to name
    a function or a file. `derived` hold anything computed from input, which is enough for code
    or a shell command to be attacker-controlled.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        self.variables: set[str] = set()
        self.derived: set[str] = set()
        self.everything = _EXTRACT.search(code) is not None
        assignments = [(m.group(1), m.group(2)) for m in _ASSIGN.finditer(code)]
        for match in _FOREACH.finditer(code):
            for name in (match.group(2), match.group(3)):
                if name:
                    assignments.append((name, match.group(1)))
        for match in _LIST_ASSIGN.finditer(code):
            for name in _VAR_NAME.findall(match.group(1)):
                assignments.append((name, match.group(2)))
        assignments = [(n, v) for n, v in assignments
                       if n != "$this" and ("$" in v or "php://" in v or "headers" in v)]
        for _round in range(4):
            grew = False
            for name, value in assignments:
                if name not in self.derived and self.carries_input(value):
                    self.derived.add(name)
                    grew = True
                if name not in self.variables and self.is_input(value):
                    self.variables.add(name)
                    grew = True
            if not grew:
                break

    def uses(self, expression: str, names: set[str]) -> bool:
        """Whether `expression` mentions one of `names`."""
        return bool(names) and any(name in names for name in _VAR_NAME.findall(expression))

    def carries_input(self, expression: str) -> bool:
        """Whether `expression` uses request input at all, however transformed."""
        if "$" not in expression and "php://" not in expression and "headers" not in expression:
            return False
        if _may_hold_source(expression) and _SOURCE_EXPR.search(expression):
            return True
        return self.uses(expression, self.derived)

    def is_input(self, expression: str) -> bool:
        """Whether `expression` is request input itself, at most decoded, trimmed or concatenated."""
        if "$" not in expression and "php://" not in expression and "headers" not in expression:
            return False
        found = False
        text = expression
        if _may_hold_source(text):
            text, count = _SOURCE_EXPR.subn(" ", text)
            found = count > 0
        if self.variables:
            def drop(match: re.Match[str]) -> str:
                nonlocal found
                if match.group(1) in self.variables:
                    found = True
                    return " "
                return match.group(0)

            text = _VAR_INDEXED.sub(drop, text)
        if not found:
            return False
        text = _STRING.sub(" ", text)
        text = _CONDITION.sub(" ", text)
        text = _PASS_CALL.sub(" ", text)
        return not _NOISE.sub("", text)


def find_tainted_sinks(code: str) -> Iterator[TaintHit]:
    """Yield dangerous calls in comment-free, normalized PHP that receive request input."""
    # Most files reach no sink worth asking about: the taint analysis runs only when one does.
    taint = functools.cache(lambda: Taint(code))
    assigned = set(_ASSIGNED.findall(code))
    lines = LineIndex(code)

    for match in _SINK_CALL.finditer(code):
        if not is_call_site(code, match.start()):
            continue
        name = match.group(1).lower()
        has_paren = code[match.end() - 1] == "("
        if not has_paren and name not in INCLUDE_SINKS:
            continue
        open_paren = match.end() - 1 if has_paren else match.end()
        arguments = split_arguments(call_arguments(code, open_paren))
        line = lines.line(match.start())
        first = arguments[0] if arguments else ""
        literal = _literal_name(arguments[1] if name in SECOND_CALLBACK_SINKS and
                                len(arguments) > 1 else first)
        if (name in CALLBACK_SINKS or name in SECOND_CALLBACK_SINKS) and literal in HIDDEN_CALL_NAMES:
            if taint().carries_input(",".join(arguments)):
                yield TaintHit("php_tainted_exec", "critical", line,
                               f"{name}() menjalankan {literal}() atas input permintaan")
        elif name in SECOND_CALLBACK_SINKS:
            if len(arguments) > 1 and taint().is_input(arguments[1]):
                yield TaintHit("php_tainted_callback", "critical", line,
                               f"{name}() memanggil fungsi yang namanya berasal dari input permintaan")
        elif name in CALLBACK_SINKS:
            if taint().is_input(first):
                yield TaintHit("php_tainted_callback", "critical", line,
                               f"{name}() memanggil fungsi yang namanya berasal dari input permintaan")
        elif name in CODE_SINKS or name in COMMAND_SINKS:
            given = ",".join(arguments[:2])
            if name in COMMAND_SINKS and _SHELL_ESCAPE.search(given):
                continue
            if taint().carries_input(given):
                yield TaintHit("php_tainted_exec", "critical", line,
                               f"{name}() menerima input permintaan (webshell)")
        elif name in INCLUDE_SINKS:
            if taint().is_input(first):
                # Routers include a page named by the request after checking it against a list.
                validated = _VALIDATION.search(code) is not None
                yield TaintHit("php_tainted_include", "low" if validated else "high", line,
                               f"{name} memuat berkas dari input permintaan melalui variabel"
                               + (" (ada validasi di berkas ini)" if validated else ""))
        elif name == "fopen":
            mode = arguments[1].strip().strip("'\"") if len(arguments) > 1 else ""
            if taint().is_input(first) and mode[:1] in ("w", "a", "x", "c"):
                yield TaintHit("php_tainted_file_write", "high", line,
                               "Berkas dibuka untuk ditulis dengan nama dari input permintaan")
        elif name == "file_put_contents":
            if len(arguments) > 1 and taint().is_input(first) and taint().is_input(arguments[1]):
                yield TaintHit("php_tainted_file_write", "high", line,
                               "Nama dan isi berkas diambil dari input permintaan")
        elif name == "preg_replace" and len(arguments) > 1 and _eval_modifier(first):
            if taint().is_input(arguments[1]) or (len(arguments) > 2 and taint().is_input(arguments[2])):
                yield TaintHit("php_tainted_preg_eval", "critical", line,
                               "preg_replace /e dengan input permintaan")

    for match in _BACKTICK.finditer(code):
        # A shell command in code, not backticks quoted inside a string or doc comment.
        if not _BACKTICK_CONTEXT.search(code, max(0, match.start() - 12), match.start()):
            continue
        if taint().carries_input(match.group(1)):
            yield TaintHit("php_tainted_exec", "critical", lines.line(match.start()),
                           "Perintah shell (backtick) berisi input permintaan")

    literal_functions = {
        m.group(1): m.group(2).lower() for m in _LITERAL_ASSIGN.finditer(code)
        if m.group(2).lower() in HIDDEN_CALL_NAMES
    }
    for match in _VAR_CALL.finditer(code):
        variable = match.group(1)
        if variable == "$this" or not is_call_site(code, match.start()):
            continue
        arguments = split_arguments(call_arguments(code, match.end() - 1))
        line = lines.line(match.start())
        from_request = variable in taint().variables or (
            taint().everything and variable not in assigned
        )
        if from_request:
            yield TaintHit("php_tainted_function_name", "critical", line,
                           f"Fungsi {variable}() namanya berasal dari input permintaan")
        elif variable in literal_functions:
            function = literal_functions[variable]
            if any(taint().is_input(argument) for argument in arguments) or taint().everything:
                yield TaintHit("php_hidden_call_request", "critical", line,
                               f"{function}() dipanggil lewat variabel {variable} dengan input "
                               "permintaan")
            else:
                yield TaintHit("php_hidden_call", "high", line,
                               f"{function}() dipanggil lewat variabel {variable} untuk menyamarkan")


def is_call_site(code: str, start: int) -> bool:
    """Whether a name at `start` is a plain call, not a method, property or part of a name."""
    if start == 0:
        return True
    before = code[start - 1]
    if before == ">":
        return start < 2 or code[start - 2] != "-"
    return not (before.isalnum() or before in "_:$\\")


def _literal_name(argument: str) -> str:
    """Return the function name a quoted literal argument holds ("" when it is not one)."""
    text = argument.strip()
    if len(text) > 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1].lower()
    return ""


class LineIndex:
    """Line numbers of offsets in one text, without recounting from the start each time."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        position = text.find("\n")
        while position >= 0:
            self.starts.append(position + 1)
            position = text.find("\n", position + 1)

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)


def _eval_modifier(pattern: str) -> bool:
    """Whether a preg_replace pattern literal carries the /e (evaluate) modifier."""
    literal = pattern.strip()
    if len(literal) < 4 or literal[0] not in "'\"" or literal[-1] != literal[0]:
        return False
    body = literal[1:-1]
    delimiter = body[:1]
    closing = {"(": ")", "[": "]", "{": "}", "<": ">"}.get(delimiter, delimiter)
    end = body.rfind(closing)
    return end > 0 and "e" in body[end + 1:]
