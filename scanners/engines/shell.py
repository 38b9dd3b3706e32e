"""Light reading of POSIX shell scripts: commands, pipelines, redirections and heredocs.

Enough of the shell grammar to see what a build step runs and where its output goes (quotes,
escapes, `$(...)` and backticks, `&&`/`||`/`;`/`|`, `>`/`>>`/`<<`/`<<<`), not a shell: control
structures are read as ordinary commands, and variables are expanded only when their value is known.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Operators, longest first so that `&&` is never read as two `&`.
_OPERATORS = ("&>>", "<<<", "<<-", "&&", "||", ";;", "<<", ">>", "&>", ">|", ">&", "<&", "<>", "|&",
              ";", "&", "|", "(", ")", "<", ">")
_OPERATOR_START = frozenset(op[0] for op in _OPERATORS)
_WORD_END = frozenset(" \t\r\n") | _OPERATOR_START
_OUTPUT_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>"})
_INPUT_REDIRECTS = frozenset({"<", "<&"})
_SEPARATORS = frozenset({"&&", "||", ";", ";;", "&", "\n", "(", ")"})
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|([A-Za-z_]\w*))")
# Words that open a command without being its name.
_PREFIX_WORDS = frozenset({"!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while",
                           "until", "time", "exec", "command", "builtin", "nohup", "sudo", "doas",
                           "nice", "ionice", "stdbuf", "setsid", "chroot", "busybox"})
_OPTIONS_WITH_VALUE = frozenset({"-u", "-g", "-U", "-C", "-D", "-h", "-p", "-r", "-t", "-T", "-n", "-c"})
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=")


@dataclass
class Command:
    """One simple command: its words (quotes removed), redirections and the text fed to it."""

    words: list[str] = field(default_factory=list)
    redirects: list[tuple[str, str]] = field(default_factory=list)
    stdin: str | None = None
    # Scripts run inside the command's words: $(...) and `...`.
    substitutions: list[str] = field(default_factory=list)

    # Read once the command is complete (after `parse`), so cached.
    @functools.cached_property
    def name(self) -> str:
        """The program run, without its directory and without prefixes such as `sudo` or `env`."""
        args = self.arguments_from_name()
        return args[0].rsplit("/", 1)[-1] if args else ""

    @functools.cached_property
    def arguments(self) -> list[str]:
        """The words after the program's name."""
        return self.arguments_from_name()[1:]

    def arguments_from_name(self) -> list[str]:
        """The words from the program's name on."""
        words = self.words
        index = 0
        while index < len(words):
            word = words[index]
            if _ASSIGNMENT.match(word) or word in _PREFIX_WORDS:
                index += 1
                # sudo -u www-data, nice -n 10: options of a prefix, with their values
                while index < len(words) and words[index].startswith("-") and word != "!":
                    index += 2 if words[index] in _OPTIONS_WITH_VALUE else 1
            elif word == "env":
                index += 1
                while index < len(words) and (words[index].startswith("-")
                                              or _ASSIGNMENT.match(words[index])):
                    index += 1
            elif word == "timeout" and index + 1 < len(words):
                index += 2
            else:
                break
        return words[index:]

    @property
    def outputs(self) -> list[str]:
        """Files the command's output is redirected to (the standard streams left out)."""
        return [target for op, target in self.redirects if op in _OUTPUT_REDIRECTS
                and target not in ("/dev/null", "/dev/stdout", "/dev/stderr")
                and not target.startswith("&") and not target.isdigit()]

    @property
    def inputs(self) -> list[str]:
        """Files redirected into the command."""
        return [target for op, target in self.redirects if op in _INPUT_REDIRECTS]


Pipeline = list[Command]


@dataclass
class _Word:
    raw: str
    value: str
    substitutions: list[str]


class _Lexer:
    def __init__(self, script: str) -> None:
        self.text = script
        self.index = 0

    def tokens(self) -> list[tuple[str, str | _Word]]:
        tokens: list[tuple[str, str | _Word]] = []
        pending: list[tuple[int, str, bool]] = []  # heredocs whose bodies start after this line
        text = self.text
        while self.index < len(text):
            ch = text[self.index]
            if ch in " \t\r":
                self.index += 1
            elif ch == "\\" and text.startswith("\n", self.index + 1):
                self.index += 2
            elif ch == "\n":
                tokens.append(("op", "\n"))
                self.index += 1
                for position, delimiter, strip_tabs in pending:
                    tokens[position] = ("heredoc", self._heredoc_body(delimiter, strip_tabs))
                pending = []
            elif ch == "#":
                end = text.find("\n", self.index)
                self.index = len(text) if end < 0 else end
            elif ch in _OPERATOR_START and (op := self._operator()) is not None:
                self.index += len(op)
                if op in ("<<", "<<-"):
                    while text[self.index: self.index + 1] in (" ", "\t"):
                        self.index += 1
                    marker = self._word()
                    pending.append((len(tokens), marker.value, op == "<<-"))
                    tokens.append(("heredoc", ""))
                else:
                    tokens.append(("op", op))
            else:
                word = self._word()
                # `2>file`: the digits name a file descriptor, not an argument.
                if word.raw.isdigit() and text[self.index: self.index + 1] in ("<", ">"):
                    continue
                tokens.append(("word", word))
        for position, _delimiter, _strip in pending:  # the script ended inside a heredoc
            tokens[position] = ("heredoc", "")
        return tokens

    def _operator(self) -> str | None:
        for op in _OPERATORS:
            if self.text.startswith(op, self.index):
                return op
        return None

    def _heredoc_body(self, delimiter: str, strip_tabs: bool) -> str:
        lines = []
        text = self.text
        while self.index < len(text):
            end = text.find("\n", self.index)
            end = len(text) if end < 0 else end
            line = text[self.index:end]
            self.index = end + 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
            lines.append(line.lstrip("\t") if strip_tabs else line)
        return "\n".join(lines) + ("\n" if lines else "")

    def _word(self) -> _Word:
        text = self.text
        start = self.index
        value: list[str] = []
        substitutions: list[str] = []
        while self.index < len(text):
            ch = text[self.index]
            if ch in _WORD_END:
                break
            if ch == "'":
                end = text.find("'", self.index + 1)
                end = len(text) if end < 0 else end
                value.append(text[self.index + 1:end])
                self.index = end + 1
            elif ch == '"':
                self._double_quoted(value, substitutions)
            elif ch == "\\":
                following = text[self.index + 1: self.index + 2]
                if following != "\n":
                    value.append(following)
                self.index += 2
            elif text.startswith("$(", self.index):
                value.append(self._substitution(substitutions))
            elif ch == "`":
                value.append(self._backticks(substitutions))
            elif text.startswith("${", self.index):
                end = text.find("}", self.index)
                end = len(text) - 1 if end < 0 else end
                value.append(text[self.index:end + 1])
                self.index = end + 1
            else:
                value.append(ch)
                self.index += 1
        return _Word(text[start:self.index], "".join(value), substitutions)

    def _double_quoted(self, value: list[str], substitutions: list[str]) -> None:
        """Read a "..." string from its opening quote: escapes and substitutions work inside it."""
        text = self.text
        self.index += 1
        while self.index < len(text) and text[self.index] != '"':
            inner = text[self.index]
            if inner == "\\" and self.index + 1 < len(text):
                following = text[self.index + 1]
                if following in '"\\$`':
                    value.append(following)
                elif following != "\n":
                    value.append(inner + following)
                self.index += 2
            elif text.startswith("$(", self.index):
                value.append(self._substitution(substitutions))
            elif inner == "`":
                value.append(self._backticks(substitutions))
            else:
                value.append(inner)
                self.index += 1
        self.index += 1

    def _substitution(self, substitutions: list[str]) -> str:
        text = self.text
        start = self.index
        depth = 0
        while self.index < len(text):
            ch = text[self.index]
            if ch in "'\"":
                end = text.find(ch, self.index + 1)
                self.index = len(text) if end < 0 else end + 1
                continue
            if ch == "\\":
                self.index += 2
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    self.index += 1
                    break
            self.index += 1
        inner = text[start + 2: self.index - 1].strip("()") if text.startswith("$((", start) \
            else text[start + 2: self.index - 1]
        substitutions.append(inner)
        return text[start:self.index]

    def _backticks(self, substitutions: list[str]) -> str:
        text = self.text
        end = text.find("`", self.index + 1)
        end = len(text) if end < 0 else end
        substitutions.append(text[self.index + 1:end])
        raw = text[self.index:end + 1]
        self.index = end + 1
        return raw


def expand(word: str, variables: Mapping[str, str]) -> str:
    """Replace `$NAME`, `${NAME}` and `${NAME:-default}` whose value is known."""
    if "$" not in word:
        return word

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        if match.group(2) is not None:
            return match.group(2)
        return match.group(0)

    return _VARIABLE.sub(value, word)


def parse(script: str, variables: Mapping[str, str] | None = None) -> list[Pipeline]:
    """Read a shell script into pipelines of commands, in order."""
    known = variables or {}
    pipelines: list[Pipeline] = []
    pipeline: Pipeline = []
    command = Command()
    redirect: str | None = None

    def end_command() -> None:
        nonlocal command
        if command.words or command.redirects or command.stdin is not None:
            pipeline.append(command)
        command = Command()

    def end_pipeline() -> None:
        nonlocal pipeline
        end_command()
        if pipeline:
            pipelines.append(pipeline)
        pipeline = []

    for kind, token in _Lexer(script).tokens():
        if kind == "word":
            assert isinstance(token, _Word)
            text = expand(token.value, known)
            command.substitutions.extend(token.substitutions)
            if redirect == "<<<":
                command.stdin = text
            elif redirect is not None:
                command.redirects.append((redirect, text))
            else:
                command.words.append(text)
            redirect = None
        elif kind == "heredoc":
            command.stdin = str(token)
        elif token in ("|", "|&"):
            end_command()
        elif token in _SEPARATORS:
            end_pipeline()
        else:
            redirect = str(token)
    end_pipeline()
    return pipelines
