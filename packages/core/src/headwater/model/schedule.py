"""Validate a pipeline's schedule (cron string or preset), timezone and dates."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from functools import lru_cache

from headwater.errors import DefinitionError

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


@lru_cache(maxsize=1024)  # a project repeats a few schedules; croniter's parse is the slow part
def cron_expression(schedule: str) -> str:
    """The cron expression for ``schedule`` (a preset or cron string); raise if invalid."""
    expr = PRESETS.get(schedule.strip().lower(), schedule.strip())
    if expr.startswith("@"):
        known = ", ".join(PRESETS)
        raise DefinitionError(f"schedule: unknown preset {schedule!r} (known: {known})")
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise DefinitionError(f"schedule: {schedule!r} is not a cron expression (expected 5 fields)")
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise DefinitionError(f"schedule: {schedule!r} is not a valid cron expression")
    return expr


def parse_timezone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise DefinitionError(f"timezone: unknown timezone {name!r} (use an IANA name like 'Europe/Berlin')") from None


def parse_date(value: str | date | datetime | None, tz: tzinfo, *, what: str) -> datetime | None:
    """A date, datetime or ISO string as an aware datetime in ``tz`` (naive values are local to tz)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise DefinitionError(f"{what}: cannot read {value!r} as a date (use YYYY-MM-DD)") from None
    from headwater.model.timetable import localize  # a local time in a DST gap means the first instant after it

    if isinstance(value, datetime):
        return value if value.tzinfo is not None else localize(value, tz)
    if isinstance(value, date):
        return localize(datetime(value.year, value.month, value.day), tz)
    raise DefinitionError(f"{what}: expected a date, got {value!r}")
