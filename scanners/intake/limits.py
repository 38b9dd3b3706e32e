"""What an upload may unpack to, and the refusal raised when it would cross a bound."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what an upload may unpack to; every archive nested inside counts towards them."""

    max_total_bytes: int = 2048 * MiB
    max_files: int = 100_000
    max_member_bytes: int = 512 * MiB
    max_ratio: float = 100.0
    # Small members compress extremely well for honest reasons; only big ones can be bombs.
    ratio_min_bytes: int = 1 * MiB
    max_depth: int = 3
    max_path_length: int = 1024

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Limits:
        """Build limits from a policy table, keeping the defaults for keys it leaves out."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown intake limits: {', '.join(sorted(unknown))}")
        return cls(**{key: data[key] for key in data})


class RejectedUpload(Exception):
    """The upload is refused without scanning: it is unsafe to unpack or exceeds a limit."""

    def __init__(self, code: str, reason: str, member: str | None = None) -> None:
        self.code = code
        self.reason = reason
        self.member = member
        detail = f"{reason}: {member!r}" if member is not None else reason
        super().__init__(detail)

    @property
    def message(self) -> str:
        return str(self)
