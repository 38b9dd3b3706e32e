"""What engines report: findings with a severity, and the verdicts a scan can end in."""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class Severity(enum.IntEnum):
    """How much a finding matters; the policy maps each level to a verdict."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        """Return the severity named by `value` ("high", 3 or Severity.HIGH)."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class Verdict(enum.StrEnum):
    """The outcome of a scan, ordered by how strongly it blocks a release."""

    CLEAN = "clean"
    REVIEW = "review"
    INFECTED = "infected"
    REJECTED = "rejected"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Verdict.CLEAN: 0,
    Verdict.REVIEW: 1,
    Verdict.INFECTED: 2,
    Verdict.REJECTED: 3,
    Verdict.ERROR: 4,
}


@dataclass(frozen=True)
class Finding:
    """One thing an engine noticed about one file."""

    engine: str
    rule: str
    severity: Severity
    path: str
    message: str
    line: int | None = None
    snippet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.label
        return data


class EngineError(Exception):
    """An engine could not do its work; the scan cannot end clean."""


def line_at(data: bytes, offset: int) -> tuple[int, str]:
    """Return the 1-based line number at `offset` in `data` and that line, shortened for display."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    if end < 0:
        end = len(data)
    number = data.count(b"\n", 0, offset) + 1
    # Minified or packed files have huge lines: show the part around the match only.
    if end - start > SNIPPET_CHARS:
        start = max(start, offset - SNIPPET_CHARS // 4)
        end = min(end, start + SNIPPET_CHARS)
    text = data[start:end].decode("utf-8", "replace").strip()
    return number, "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


SNIPPET_CHARS = 200
