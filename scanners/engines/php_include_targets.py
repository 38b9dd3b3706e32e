"""What a PHP include's target evaluates to, as far as the file itself says.

A target is read as string literals, concatenation, escapes, simple decoders, constants defined in
the file, and variables given a value earlier in the same function; whatever else it holds stays
unknown. Like the rest of the PHP analysis, it reads comment-free code and is no parser.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from scanners.engines.php_deobfuscation import DECODERS, decode_call, decode_escapes
from scanners.engines.php_source import is_call_site

MAX_ARGUMENT_CHARS = 1000
MAX_RESOLVE_DEPTH = 3
MAX_ALTERNATIVES = 8
# Bounds on the work one file can ask for, however it is written.
MAX_LOOKUPS = 500
MAX_LOOKBACK_CHARS = 32 * 1024

_IDENTIFIER_CALL = re.compile(r"([A-Za-z_\\][\w\\]*)\s*\(")
PLAIN_VARIABLE = re.compile(r"\$[A-Za-z_\x80-\xff][\w\x80-\xff]*\Z")
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

UNKNOWN = None


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
                for start, _end in whole_words(self.lowered, (word,), ("",)):
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
        if PLAIN_VARIABLE.match(text):
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
            if PLAIN_VARIABLE.match(variable):
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
            self._functions = [start for start, _end in whole_words(self.lowered, ("function",), ("",))]
        before = bisect.bisect_left(self._functions, offset)
        return self._functions[before - 1] if before else 0



def whole_words(lowered: str, words: tuple[str, ...], suffixes: tuple[str, ...]) -> Iterator[tuple[int, int]]:
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
