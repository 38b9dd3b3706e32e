"""The Pemda's time zone for code that is not formatting a page: the same rule as `panel.formatting`.

Indonesia keeps no daylight saving time: WIB, WITA and WIT are fixed offsets from UTC.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from flask import has_app_context

from panel import formatting

INDONESIAN_ZONES = {name: formatting.local_zone(name) for name in ("WIB", "WITA", "WIT")}


def pemda_timezone(config: Mapping[str, Any] | None = None) -> tzinfo:
    """Return the Pemda's zone from `config`'s PEMDA_TIMEZONE, or the running app's (WIB by default)."""
    if config is None:
        return formatting.pemda_zone() if has_app_context() else INDONESIAN_ZONES["WIB"]
    return formatting.local_zone(formatting.zone_name(config.get("PEMDA_TIMEZONE") or "WIB"))
