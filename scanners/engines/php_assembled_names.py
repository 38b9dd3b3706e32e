"""Dangerous function names put together at run time, then called through a variable.

Webshells keep `system` or `assert` out of their text: they join pieces (`"sy" . "st" . $c`), strip
filler (`str_replace("#", "", "s#y#s#t#e#m")`), reverse or rotate them, implode an array or build
them from chr() codes, often across statements shuffled with `goto`. Here each simple assignment
of a variable to such an expression is evaluated (flow-insensitively, so jumps do not matter), and
a call through the variable (`$f(...)`, `call_user_func($f, ...)`, `array_map($f, ...)` and the
like) whose value names a command or code sink is reported.
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass

from scanners.engines.php_source import CODE_SINKS, COMMAND_SINKS, LineIndex

# Sinks worth hiding: running code or commands, or writing and reading files for a dropper.
HIDDEN_SINKS = frozenset(CODE_SINKS + COMMAND_SINKS + ("pcntl_exec", "expect_popen"))
MAX_ROUNDS = 6
MAX_VALUE_CHARS = 64
MAX_ASSIGNMENTS = 8
# Only literals, variables, concatenation and the string functions below can make a constant.
_CONSTANT_SHAPE = re.compile(
    r"^(?:'(?:[^'\\]|\\.)*+'|\"(?:[^\"\\$]|\\.)*+\"|\$\w++|\[\s*+\d{1,3}\s*+\]|[.,()\[\]\s]|\d++|"
    r"(?i:chr|implode|join|str_replace|strrev|str_rot13|strtolower|trim|substr|array)\b)++$")

_ASSIGNMENT = re.compile(r"(\$[A-Za-z_]\w*)\s*=(?![=>])\s*([^;]{1,600});")
_STRING = re.compile(r"'((?:[^'\\]|\\.){0,200})'|\"((?:[^\"\\$]|\\.){0,200})\"")
_CHR = re.compile(r"chr\s*\(\s*(0x[0-9a-f]{1,2}|\d{1,3})\s*\)", re.I)
_ARRAY = re.compile(r"^(?:array\s*\((.*)\)|\[(.*)\])$", re.S | re.I)
_CALL = re.compile(r"^(\w+)\s*\((.*)\)$", re.S)
_VARIABLE = re.compile(r"^\$[A-Za-z_]\w*$")
_INDEXED = re.compile(r"^(\$[A-Za-z_]\w*)\s*\[\s*(\d{1,3})\s*\]$")
# Where a variable's value becomes the function that runs.
_CALL_SITES = re.compile(
    r"(?<![\w>:$\\])(\$[A-Za-z_]\w*(?:\s*\[\s*\d{1,3}\s*\])?)\s*\("
    r"|(?<![\w>:$\\])(?:call_user_func(?:_array)?|array_map|register_shutdown_function|"
    r"register_tick_function|forward_static_call(?:_array)?|ob_start|iterator_apply)\s*\(\s*"
    r"(\$[A-Za-z_]\w*(?:\s*\[\s*\d{1,3}\s*\])?)\s*[,)]"
    r"|(?<![\w>:$\\])(?:array_filter|array_walk|array_walk_recursive|usort|uasort|uksort|"
    r"array_reduce|preg_replace_callback)\s*\([^;]{1,200}?,\s*"
    r"(\$[A-Za-z_]\w*(?:\s*\[\s*\d{1,3}\s*\])?)\s*[,)]",
    re.I,
)


@dataclass(frozen=True)
class AssembledCall:
    name: str
    variable: str
    line: int
    plain: bool  # the name was written whole, only moved into a variable


def _split_top(text: str, separator: str) -> list[str]:
    """Split at `separator` outside quotes and brackets."""
    parts, depth, quote, start, index = [], 0, "", 0, 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


class _Values:
    """String (and list-of-string) values of a file's variables, worked out only when asked."""

    def __init__(self, assignments: dict[str, list[str]]) -> None:
        self.assignments = assignments
        self.strings: dict[str, str | None] = {}
        self.lists: dict[str, list[str] | None] = {}
        self.built: set[str] = set()
        self._open: set[str] = set()

    def variable(self, name: str) -> str | None:
        """Return the value of the first assignment of `name` that is a constant string."""
        if name in self.strings:
            return self.strings[name]
        if name in self._open:  # a cycle, or still being worked out
            return None
        self._open.add(name)
        found = None
        for expression in self.assignments.get(name, ())[:MAX_ASSIGNMENTS]:
            found = self.value(expression)
            if found is not None and len(found) <= MAX_VALUE_CHARS:
                if not _STRING.fullmatch(expression.strip()):
                    self.built.add(name)
                break
            found = None
        self._open.discard(name)
        self.strings[name] = found
        return found

    def variable_list(self, name: str) -> list[str] | None:
        if name not in self.lists:
            self.lists[name] = None
            for expression in self.assignments.get(name, ())[:MAX_ASSIGNMENTS]:
                items = self.list_value(expression)
                if items is not None:
                    self.lists[name] = items
                    break
        return self.lists[name]

    def list_value(self, expression: str) -> list[str] | None:
        found = _ARRAY.match(expression.strip())
        if found is None:
            return None
        body = found.group(1) if found.group(1) is not None else found.group(2)
        items = [self.value(item) for item in _split_top(body, ",") if item]
        if not items or any(item is None for item in items):
            return None
        return [item for item in items if item is not None]

    def value(self, expression: str) -> str | None:
        """Return the string `expression` evaluates to, or None when it is not a constant."""
        expression = expression.strip()
        if not _CONSTANT_SHAPE.match(expression):
            return None
        while expression.startswith("(") and expression.endswith(")") \
                and len(_split_top(expression[1:-1], ",")) == 1 and _balanced(expression[1:-1]):
            expression = expression[1:-1].strip()
        pieces = _split_top(expression, ".")
        if len(pieces) > 1:
            values = [self.value(piece) for piece in pieces]
            return None if any(v is None for v in values) else "".join(v or "" for v in values)
        return self._atom(expression)

    def _atom(self, expression: str) -> str | None:
        """Evaluate one operand: a literal, a variable, an indexed list, chr(), or a call."""
        literal = _STRING.fullmatch(expression)
        if literal is not None:
            text = literal.group(1) if literal.group(1) is not None else literal.group(2)
            return text.replace("\\'", "'") if literal.group(1) is not None else _unescape(text)
        if _VARIABLE.match(expression):
            return self.variable(expression)
        indexed = _INDEXED.match(expression)
        if indexed is not None:
            items = self.variable_list(indexed.group(1))
            position = int(indexed.group(2))
            return items[position] if items is not None and position < len(items) else None
        code = _CHR.fullmatch(expression)
        if code is not None:
            token = code.group(1)
            number = int(token, 16) if token.lower().startswith("0x") else int(token)
            return chr(number) if 32 <= number < 127 else None
        call = _CALL.match(expression)
        return self._call(call.group(1).lower(), _split_top(call.group(2), ",")) if call else None

    def _call(self, function: str, arguments: list[str]) -> str | None:
        """Evaluate a string function PHP code assembles names with."""
        if function in ("implode", "join") and len(arguments) == 2:
            glue = self.value(arguments[0])
            items = self.variable_list(arguments[1]) if _VARIABLE.match(arguments[1]) \
                else self.list_value(arguments[1])
            if glue is None or items is None:
                return None
            return glue.join(items)
        values = [self.value(argument) for argument in arguments]
        if any(v is None for v in values):
            return None
        return _apply(function, [v or "" for v in values])


def _apply(function: str, strings: list[str]) -> str | None:
    if function == "str_replace" and len(strings) == 3:
        return strings[2].replace(strings[0], strings[1]) if strings[0] else None
    if function == "strrev" and len(strings) == 1:
        return strings[0][::-1]
    if function == "str_rot13" and len(strings) == 1:
        return codecs.encode(strings[0], "rot13")
    if function in ("strtolower", "trim") and len(strings) == 1:
        return strings[0].lower() if function == "strtolower" else strings[0].strip()
    if function == "substr" and 2 <= len(strings) <= 3 and all(
            s.lstrip("-").isdigit() for s in strings[1:]):
        start = int(strings[1])
        return strings[0][start:start + int(strings[2])] if len(strings) == 3 \
            else strings[0][start:]
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _unescape(text: str) -> str:
    try:
        return codecs.decode(text.encode("latin-1", "replace"), "unicode_escape")
    except UnicodeDecodeError:
        return text


def find_assembled_calls(code: str) -> Iterator[AssembledCall]:
    """Yield calls through a variable whose value, assembled in the file, names a sink."""
    sites = list(_CALL_SITES.finditer(code))
    if not sites:
        return
    assignments: dict[str, list[str]] = {}
    for match in _ASSIGNMENT.finditer(code):
        assignments.setdefault(match.group(1), []).append(match.group(2))
    if not assignments:
        return
    values = _Values(assignments)
    lines = LineIndex(code)
    reported: set[tuple[str, int]] = set()
    for site in sites:
        target = (site.group(1) or site.group(2) or site.group(3) or "").replace(" ", "")
        if target.split("[", 1)[0] not in assignments:
            continue
        value = values.value(target)
        if value is None:
            continue
        name = value.strip().lower().lstrip("\\")
        if name not in HIDDEN_SINKS:
            continue
        line = lines.line(site.start())
        if (name, line) in reported:
            continue
        reported.add((name, line))
        base = target.split("[", 1)[0]
        yield AssembledCall(name, target, line, plain=base not in values.built
                            and "[" not in target)
