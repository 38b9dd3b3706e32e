"""Droppers: code fetched from the network, written to a file, and that very file included.

The marker rule `php_marker_dropper` says a file fetches from a URL, writes a file and includes
something; here the write's target and the include's argument are compared, so an app that
caches a download and includes its own templates is not taken for a dropper.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from scanners.engines.php_source import LineIndex, is_call_site
from scanners.engines.php_taint import call_arguments, split_arguments

_WRITE = re.compile(r"\b(file_put_contents|fopen|copy|rename|move_uploaded_file|tempnam)\s*\(",
                    re.I)
_HANDLE = re.compile(r"(\$\w+)\s*=\s*@?\s*fopen\s*\(", re.I)
_INCLUDE = re.compile(r"\b(include|require)(?:_once)?\b\s*", re.I)
_ASSIGN = re.compile(r"(\$\w+)\s*=(?![=>])\s*([^;]{1,300});")


@dataclass(frozen=True)
class DropperHit:
    line: int
    target: str


def _canonical(expression: str) -> str:
    text = re.sub(r"\s+", "", expression.strip().lstrip("@"))
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return text.replace('"', "'").lower()


def find_droppers(code: str) -> Iterator[DropperHit]:
    """Yield includes of a file the same code wrote (after fetching from the network)."""
    written: set[str] = set()
    for match in _WRITE.finditer(code):
        if not is_call_site(code, match.start()):
            continue
        arguments = split_arguments(call_arguments(code, match.end() - 1))
        name = match.group(1).lower()
        position = 1 if name in ("copy", "rename", "move_uploaded_file") else 0
        if name == "fopen" and (len(arguments) < 2 or not re.search(r"[wax+c]", arguments[1])):
            continue
        if len(arguments) > position:
            written.add(_canonical(arguments[position]))
    if not written:
        return
    # A variable holding a written path, or assigned from tempnam(), counts as the path.
    aliases = {_canonical(name): _canonical(value) for name, value in _ASSIGN.findall(code)}
    lines = LineIndex(code)
    for match in _INCLUDE.finditer(code):
        if not is_call_site(code, match.start()):
            continue
        argument = _canonical(call_arguments(code, match.end()).rstrip(";"))
        if argument.startswith("(") or match.end() < len(code) and code[match.end()] == "(":
            argument = _canonical(call_arguments(code, match.end()))
        resolved = {argument, aliases.get(argument, "")}
        if resolved & written or any(aliases.get(w) == argument for w in written):
            yield DropperHit(lines.line(match.start()), argument)
