"""Reading PHP source without a parser: comments, call sites, line numbers, functions that run code.

The PHP analysis (deobfuscation, request-input tracking, include targets) works on comment-free text;
these are the pieces of reading it that all of them share.
"""
from __future__ import annotations

import bisect
import re

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

_LEX = re.compile(
    r"(?P<sq>'(?:[^'\\]++|\\.)*+')"
    r"|(?P<dq>\"(?:[^\"\\]++|\\.)*+\")"
    r"|(?P<block>/\*.*?(?:\*/|\Z))"
    r"|(?P<line>(?://|\#(?!\[))[^\n]*)",
    re.S,
)


def keep_newlines(text: str) -> str:
    """Return the newlines `text` holds, so text put in its place keeps the line count."""
    return "\n" * text.count("\n")


def strip_comments(code: str) -> str:
    """Remove PHP comments, keeping strings and the line count intact."""

    def replace(match: re.Match[str]) -> str:
        if match.lastgroup in ("sq", "dq"):
            return match.group(0)
        return " " + keep_newlines(match.group(0))

    return _LEX.sub(replace, code)


def is_call_site(code: str, start: int) -> bool:
    """Whether a name at `start` is a plain call, not a method, property or part of a name."""
    if start == 0:
        return True
    before = code[start - 1]
    if before == ">":
        return start < 2 or code[start - 2] != "-"
    return not (before.isalnum() or before in "_:$\\")


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
