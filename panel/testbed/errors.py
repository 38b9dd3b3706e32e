"""The one error the testbed raises."""
from __future__ import annotations

from pathlib import Path


class TestbedError(Exception):
    """A testbed service could not be started, checked or stopped."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, service: str | None, message: str, log: Path | None = None, tail: str = ""):
        self.service = service
        self.message = message
        self.log = log
        self.tail = tail
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.service}: {self.message}" if self.service else self.message
        if self.log is not None:
            text += f"\nlog: {self.log}"
        if self.tail:
            text += f"\n--- last lines of {self.log} ---\n{self.tail.rstrip()}"
        return text
