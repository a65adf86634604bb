"""Parse durations given as timedelta, seconds, or strings like "90s", "5m", "4h", "1h30m"."""

from __future__ import annotations

import re
from datetime import timedelta

from headwater.errors import DefinitionError

Duration = timedelta | int | float | str

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Duration, *, what: str = "duration") -> float:
    """Return the duration in seconds; raise DefinitionError naming ``what`` if it is invalid."""
    if isinstance(value, bool):
        raise DefinitionError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(text) or not text:
            raise DefinitionError(
                f"{what}: cannot read {value!r} as a duration (use seconds or strings like '90s', '5m', '4h', '1h30m')"
            )
    else:
        raise DefinitionError(f"{what}: expected a duration, got {type(value).__name__}")
    if seconds < 0:
        raise DefinitionError(f"{what}: must not be negative, got {value!r}")
    return seconds


def format_duration(seconds: float | None) -> str:
    """Render seconds compactly for humans: 0.12s, 4.2s, 3m05s, 2h03m."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
