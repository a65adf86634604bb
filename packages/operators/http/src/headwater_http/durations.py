"""Durations as seconds, timedelta, or strings like "90s", "5m", "1h30m" (the core's notation)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from headwater import DefinitionError

Duration = timedelta | int | float | str

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(value: object, *, what: str, task_id: str, allow_zero: bool = True) -> float:
    """``value`` in seconds; DefinitionError naming the task and the argument when it is not a duration."""
    result: float | None = None
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        matches = list(_PART.finditer(text))
        if text and "".join(m.group(0) for m in matches) == text:
            result = sum(float(m.group(1)) * _UNITS[m.group(2)] for m in matches)
    if result is None or not math.isfinite(result) or result < 0 or (result == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise DefinitionError(
            f"task '{task_id}': {what} must be a duration {bound} (seconds or '90s', '5m', '1h30m'), got {value!r}",
            tasks=[task_id],
        )
    return result
