"""Durations (seconds, timedelta, or "90s", "5m", "1h30m"): the core's :func:`headwater.plugin.parse_duration`.

This package only adds the task's name to the error and, where asked, refuses zero.
"""

from __future__ import annotations

import math
from datetime import timedelta

from headwater import DefinitionError
from headwater.plugin import parse_duration

Duration = timedelta | int | float | str


def seconds(value: Duration, *, what: str, task_id: str, allow_zero: bool = True) -> float:
    """``value`` in seconds; DefinitionError naming the task and the argument when it is not a duration."""
    where = f"task '{task_id}': {what}"
    try:
        result = parse_duration(value, what=where)
    except DefinitionError as exc:
        raise DefinitionError(exc.message, tasks=[task_id]) from None
    if not math.isfinite(result) or (result == 0 and not allow_zero):
        raise DefinitionError(
            f"{where} must be a duration {'>= 0' if allow_zero else '> 0'} (seconds or '90s', '5m', '1h30m'), "
            f"got {value!r}",
            tasks=[task_id],
        )
    return result
