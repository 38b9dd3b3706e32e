"""The Pemda's time zone, read in one place: WIB, WITA or WIT (or an IANA name) from the configuration."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context

# Indonesia keeps no daylight saving time: each zone is a fixed offset from UTC.
INDONESIAN_ZONES = {
    "WIB": timezone(timedelta(hours=7), "WIB"),
    "WITA": timezone(timedelta(hours=8), "WITA"),
    "WIT": timezone(timedelta(hours=9), "WIT"),
}
DEFAULT_ZONE = "WIB"


def pemda_timezone(config: Mapping[str, Any] | None = None) -> tzinfo:
    """Return the Pemda's time zone from `config` (the app's when omitted): PEMDA_TIMEZONE, else TIMEZONE."""
    if config is None:
        config = current_app.config if has_app_context() else {}
    name = str(config.get("PEMDA_TIMEZONE") or config.get("TIMEZONE") or DEFAULT_ZONE).strip()
    if name.upper() in INDONESIAN_ZONES:
        return INDONESIAN_ZONES[name.upper()]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return INDONESIAN_ZONES[DEFAULT_ZONE]
