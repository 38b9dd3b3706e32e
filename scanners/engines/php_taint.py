"""Request-input tracking in PHP: which dangerous calls receive what the request sent.

Request input (superglobals, headers, the raw body) is followed through simple assignments, foreach
and list() into code, command, callback, include and file-write calls, flow-insensitively and within
one comment-free, deobfuscated file.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from scanners.engines.php_source import (
    CALLBACK_SINKS,
    CODE_SINKS,
    COMMAND_SINKS,
    INCLUDE_SINKS,
    SECOND_CALLBACK_SINKS,
    LineIndex,
    is_call_site,
)

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
    lines = LineIndex(code)
    yield from _sink_calls(code, taint, lines)
    yield from _backtick_commands(code, taint, lines)
    yield from _variable_calls(code, taint, lines)


def _sink_calls(code: str, taint: Callable[[], Taint], lines: LineIndex) -> Iterator[TaintHit]:
    """Yield the calls of dangerous functions by name that receive request input."""
    for match in _SINK_CALL.finditer(code):
        if not is_call_site(code, match.start()):
            continue
        name = match.group(1).lower()
        has_paren = code[match.end() - 1] == "("
        if not has_paren and name not in INCLUDE_SINKS:
            continue
        open_paren = match.end() - 1 if has_paren else match.end()
        arguments = split_arguments(call_arguments(code, open_paren))
        hit = _sink_hit(code, name, arguments, lines.line(match.start()), taint)
        if hit is not None:
            yield hit


def _sink_hit(code: str, name: str, arguments: list[str], line: int,
              taint: Callable[[], Taint]) -> TaintHit | None:
    """Return the finding for one call of the sink `name`, or None when its arguments are not input."""
    first = arguments[0] if arguments else ""
    if name in CALLBACK_SINKS or name in SECOND_CALLBACK_SINKS:
        return _callback_hit(name, arguments, line, taint)
    if name in CODE_SINKS or name in COMMAND_SINKS:
        given = ",".join(arguments[:2])
        if name in COMMAND_SINKS and _SHELL_ESCAPE.search(given):
            return None
        if taint().carries_input(given):
            return TaintHit("php_tainted_exec", "critical", line,
                            f"{name}() menerima input permintaan (webshell)")
        return None
    if name in INCLUDE_SINKS:
        if taint().is_input(first):
            # Routers include a page named by the request after checking it against a list.
            validated = _VALIDATION.search(code) is not None
            return TaintHit("php_tainted_include", "low" if validated else "high", line,
                            f"{name} memuat berkas dari input permintaan melalui variabel"
                            + (" (ada validasi di berkas ini)" if validated else ""))
        return None
    return _file_or_eval_hit(name, arguments, line, taint)


def _callback_hit(name: str, arguments: list[str], line: int,
                  taint: Callable[[], Taint]) -> TaintHit | None:
    """Return the finding for a function that calls back a function named by one of its arguments."""
    first = arguments[0] if arguments else ""
    literal = _literal_name(arguments[1] if name in SECOND_CALLBACK_SINKS and
                            len(arguments) > 1 else first)
    if literal in HIDDEN_CALL_NAMES:
        if taint().carries_input(",".join(arguments)):
            return TaintHit("php_tainted_exec", "critical", line,
                            f"{name}() menjalankan {literal}() atas input permintaan")
        return None
    # The second argument names the callback of SECOND_CALLBACK_SINKS, the first of the others.
    if name in SECOND_CALLBACK_SINKS:
        callback = arguments[1] if len(arguments) > 1 else None
    else:
        callback = first
    if callback is not None and taint().is_input(callback):
        return TaintHit("php_tainted_callback", "critical", line,
                        f"{name}() memanggil fungsi yang namanya berasal dari input permintaan")
    return None


def _file_or_eval_hit(name: str, arguments: list[str], line: int,
                      taint: Callable[[], Taint]) -> TaintHit | None:
    """Return the finding for a file written, or a /e pattern evaluated, from request input."""
    first = arguments[0] if arguments else ""
    if name == "fopen":
        mode = arguments[1].strip().strip("'\"") if len(arguments) > 1 else ""
        if taint().is_input(first) and mode[:1] in ("w", "a", "x", "c"):
            return TaintHit("php_tainted_file_write", "high", line,
                            "Berkas dibuka untuk ditulis dengan nama dari input permintaan")
    elif name == "file_put_contents":
        if len(arguments) > 1 and taint().is_input(first) and taint().is_input(arguments[1]):
            return TaintHit("php_tainted_file_write", "high", line,
                            "Nama dan isi berkas diambil dari input permintaan")
    elif name == "preg_replace" and len(arguments) > 1 and _eval_modifier(first):
        if taint().is_input(arguments[1]) or (len(arguments) > 2 and taint().is_input(arguments[2])):
            return TaintHit("php_tainted_preg_eval", "critical", line,
                            "preg_replace /e dengan input permintaan")
    return None


def _backtick_commands(code: str, taint: Callable[[], Taint], lines: LineIndex) -> Iterator[TaintHit]:
    """Yield the shell commands in backticks that carry request input."""
    for match in _BACKTICK.finditer(code):
        # A shell command in code, not backticks quoted inside a string or doc comment.
        if not _BACKTICK_CONTEXT.search(code, max(0, match.start() - 12), match.start()):
            continue
        if taint().carries_input(match.group(1)):
            yield TaintHit("php_tainted_exec", "critical", lines.line(match.start()),
                           "Perintah shell (backtick) berisi input permintaan")


def _variable_calls(code: str, taint: Callable[[], Taint], lines: LineIndex) -> Iterator[TaintHit]:
    """Yield the calls through a variable whose function name is request input or a hidden literal."""
    assigned = set(_ASSIGNED.findall(code))
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


def _literal_name(argument: str) -> str:
    """Return the function name a quoted literal argument holds ("" when it is not one)."""
    text = argument.strip()
    if len(text) > 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1].lower()
    return ""


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
