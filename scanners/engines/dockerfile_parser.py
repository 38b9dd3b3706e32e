"""Reading a Dockerfile as BuildKit reads it: parser directives, continuations, heredocs, JSON form.

Only the reading is here; what each instruction does to the image is judged in `dockerfile_rules`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"\s*#\s*([A-Za-z][\w-]*)\s*=\s*(.*?)\s*$")
_FLAGS = re.compile(r"(?:--\S+(?:\s+|\Z))+")
_HEREDOC_MARK = re.compile(r"<<(-?)([\"']?)([A-Za-z_][\w.\-]*)\2")


def is_dockerfile(name: str) -> bool:
    """Return whether a file name is one a build reads as a Dockerfile."""
    base = name.rsplit("/", 1)[-1].lower()
    return base in ("dockerfile", "containerfile") or base.endswith(
        (".dockerfile", ".containerfile")) or base.startswith(("dockerfile.", "containerfile."))


@dataclass
class Instruction:
    """One instruction as BuildKit sees it, with the line it starts on."""

    keyword: str
    line: int
    text: str
    flags: list[str] = field(default_factory=list)
    arguments: str = ""
    exec_form: list[str] | None = None
    heredocs: list[tuple[str, str]] = field(default_factory=list)  # (delimiter, body)

    def flag(self, name: str) -> list[str]:
        """Return the values given to `--name=` (a flag may be repeated)."""
        prefix = f"--{name}="
        return [item[len(prefix):] for item in self.flags if item.lower().startswith(prefix)]


@dataclass
class Dockerfile:
    instructions: list[Instruction]
    escape: str = "\\"
    problems: list[tuple[int, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> Dockerfile:
    """Read a Dockerfile into instructions: directives, continuations, comments and heredocs."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    escape = "\\"
    index = 0
    # Parser directives stand at the very top; the first other line ends them.
    while index < len(lines):
        directive = _DIRECTIVE.match(lines[index])
        if directive is None or directive.group(1).lower() not in ("syntax", "escape", "check"):
            break
        if directive.group(1).lower() == "escape" and directive.group(2) in ("\\", "`"):
            escape = directive.group(2)
        index += 1
    result = Dockerfile([], escape)
    while index < len(lines):
        stripped = lines[index].strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index + 1
        logical: list[str] = []
        while index < len(lines):
            body = lines[index].rstrip()
            index += 1
            if not body.endswith(escape):
                logical.append(lines[index - 1])
                break
            logical.append(body[:-1])
            # Comment and empty lines inside a continued instruction are dropped.
            while index < len(lines) and (not lines[index].strip()
                                          or lines[index].lstrip().startswith("#")):
                index += 1
        instruction, index = _instruction("".join(logical), start, lines, index, result)
        if instruction is not None:
            result.instructions.append(instruction)
    return result


def _instruction(logical: str, line: int, lines: list[str], index: int,
                 result: Dockerfile) -> tuple[Instruction | None, int]:
    parts = logical.strip().split(None, 1)
    if not parts:
        return None, index
    keyword = parts[0].upper()
    rest = parts[1] if len(parts) > 1 else ""
    instruction = Instruction(keyword, line, logical.strip())
    if keyword == "ONBUILD":
        instruction.arguments = rest
        return instruction, index
    if keyword in ("RUN", "COPY", "ADD", "FROM"):
        flags = _FLAGS.match(rest)
        if flags is not None:
            instruction.flags = flags.group(0).split()
            rest = rest[flags.end():]
    instruction.arguments = rest
    instruction.exec_form = _exec_form(rest)
    if keyword in ("RUN", "COPY", "ADD") and instruction.exec_form is None:
        index = _read_heredocs(instruction, rest, line, lines, index, result)
    return instruction, index


def _exec_form(rest: str) -> list[str] | None:
    """Return the arguments of a JSON (exec) form instruction, or None for a shell form."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _read_heredocs(instruction: Instruction, rest: str, line: int, lines: list[str], index: int,
                   result: Dockerfile) -> int:
    """Read the bodies of the here-documents `rest` opens from `lines`; return the next line's index."""
    for mark in _HEREDOC_MARK.finditer(rest):
        if rest[max(0, mark.start() - 1): mark.start()] == "<":  # a here-string, <<<
            continue
        delimiter, strip_tabs = mark.group(3), mark.group(1) == "-"
        body: list[str] = []
        while True:
            if index >= len(lines):
                result.problems.append((line, f"heredoc {delimiter} tidak pernah ditutup"))
                break
            current = lines[index]
            index += 1
            if (current.lstrip("\t") if strip_tabs else current) == delimiter:
                break
            body.append(current.lstrip("\t") if strip_tabs else current)
        instruction.heredocs.append((delimiter, "\n".join(body) + "\n" if body else ""))
    return index
