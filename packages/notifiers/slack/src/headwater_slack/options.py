"""Validate the Slack notifier's options (``[notifier_options.slack]``) into typed values."""

from __future__ import annotations

import re
from dataclasses import dataclass

from headwater import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def duration(value: object, *, what: str) -> float:
    """Seconds from ``90``, ``90.5``, ``"90s"``, ``"5m"``, ``"1h"`` (ConfigError naming ``what`` otherwise)."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a duration like '60s', '5m' or a number of seconds, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match[1]) * _UNITS[match[2]]
    else:
        raise ConfigError(f"{what}: expected a duration like '60s', '5m' or a number of seconds, got {value!r}")
    if seconds < 0:
        raise ConfigError(f"{what}: expected a duration of zero or more, got {value!r}")
    return seconds


def whole(value: object, *, what: str, minimum: int = 0) -> int:
    """A whole number >= ``minimum`` (ConfigError naming ``what`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{what}: expected a whole number >= {minimum}, got {value!r}")
    return value


def optional_text(value: object, *, what: str) -> str | None:
    """A non-empty string or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what}: expected a non-empty string, got {value!r}")
    return value.strip()


@dataclass(frozen=True, kw_only=True, slots=True)
class ThrottleOptions:
    """How alerts are rate-limited and deduplicated.

    At most ``max_per_window`` alerts are posted one by one in each ``window`` seconds; the rest
    of that window's alerts become one summary message when it ends. An alert identical to one
    posted less than ``dedup_window`` seconds ago (same kind, pipeline, task and error) is not
    posted again.
    """

    window: float = 60.0
    max_per_window: int = 5
    dedup_window: float = 600.0

    @classmethod
    def parse(cls, *, window: object, max_per_window: object, dedup_window: object, where: str) -> ThrottleOptions:
        """Validate user values (durations as strings or seconds)."""
        seconds = duration(window, what=f"{where}.window")
        if seconds <= 0:
            raise ConfigError(f"{where}.window: expected a duration greater than zero, got {window!r}")
        return cls(
            window=seconds,
            max_per_window=whole(max_per_window, what=f"{where}.max_per_window"),
            dedup_window=duration(dedup_window, what=f"{where}.dedup_window"),
        )
