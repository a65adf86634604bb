"""A pipeline's deadline: when a run must have finished.

Two forms (``Pipeline(deadline=...)``):

- a time of day, ``"08:00"`` or ``"08:30:00"`` (or a ``datetime.time``), in the
  pipeline's timezone: the run must finish by that local time on the day its
  data interval ends, or on the next day if that time is not after the
  interval's end. A time inside a DST gap means the first instant after the
  gap; a time that happens twice, its first occurrence.
- a duration (``timedelta``, seconds, ``"2h"``, ``"1h30m"``): the run must
  finish that long after its data interval ends (in absolute time).

A scheduled run is due at its interval's end, so both count from when the run
is due. A run of a pipeline without a schedule has no interval to speak of:
its deadline counts from the run's creation (pass that as ``due_at``'s reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from headwater.errors import DefinitionError
from headwater.model.durations import parse_duration

_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a run must have finished: a local ``time_of_day`` in ``tz``, or a delay ``after`` the interval end."""

    time_of_day: time | None = None
    after: timedelta | None = None
    tz: tzinfo = UTC

    def __post_init__(self) -> None:
        if (self.time_of_day is None) == (self.after is None):
            raise DefinitionError("deadline: give either a time of day or a duration")
        if self.time_of_day is not None and self.time_of_day.tzinfo is not None:
            raise DefinitionError("deadline: a time of day is in the pipeline's timezone; give it without one")
        if self.after is not None and self.after <= timedelta(0):
            raise DefinitionError(f"deadline: a duration must be positive, got {self.after}")

    @classmethod
    def parse(cls, value: Deadline | time | timedelta | int | float | str, tz: tzinfo) -> Deadline:
        """Read ``"08:00"``, ``"08:30:00"``, a ``time``, or a duration (``timedelta``, seconds, ``"2h"``).

        A time of day is in ``tz``. Raise DefinitionError naming the bad value.
        """
        if isinstance(value, Deadline):
            return value
        if isinstance(value, time):
            return cls(time_of_day=value, tz=tz)
        if isinstance(value, str):
            match = _TIME_OF_DAY.match(value.strip())
            if match:
                hour, minute, second = (int(g) if g else 0 for g in match.groups())
                if hour > 23 or minute > 59 or second > 59:
                    raise DefinitionError(f"deadline: {value!r} is not a time of day (00:00 to 23:59:59)")
                return cls(time_of_day=time(hour, minute, second), tz=tz)
        if isinstance(value, bool) or not isinstance(value, timedelta | int | float | str):
            raise DefinitionError(
                f"deadline: expected a time of day like '08:00' or a duration like '2h', got {value!r}"
            )
        try:
            seconds = parse_duration(value, what="deadline")
        except DefinitionError:
            raise DefinitionError(
                f"deadline: cannot read {value!r} (use a time of day like '08:00' or a duration like '2h', '90m')"
            ) from None
        return cls(after=timedelta(seconds=seconds), tz=tz)

    def due_at(self, interval_end: datetime) -> datetime:
        """When a run whose interval ends at ``interval_end`` must have finished (aware, in ``tz``).

        For a run of a pipeline without a schedule, pass the run's creation time.
        """
        if interval_end.tzinfo is None:
            raise ValueError("Deadline.due_at needs an aware datetime")
        if self.after is not None:
            return (interval_end.astimezone(UTC) + self.after).astimezone(self.tz)
        from headwater.model.timetable import localize

        assert self.time_of_day is not None
        day = interval_end.astimezone(self.tz).date()
        for offset in (0, 1, 2):  # 2: a time in a DST gap can resolve onto the end itself
            candidate = localize(datetime.combine(day + timedelta(days=offset), self.time_of_day), self.tz)
            if candidate.timestamp() > interval_end.timestamp():
                return candidate
        raise AssertionError("unreachable: a later day always has the time")

    def describe(self, *, scheduled: bool = True) -> str:
        """One line for humans, e.g. ``by 08:00 Europe/Berlin on the day the interval ends``.

        ``scheduled=False`` words it for a pipeline without a schedule (counted from the run's creation).
        """
        if self.after is not None:
            from headwater.model.durations import format_duration

            length = format_duration(self.after.total_seconds())
            return f"within {length} after the interval ends" if scheduled else f"within {length} of the run's creation"
        assert self.time_of_day is not None
        clock = f"{self.time_of_day.strftime('%H:%M:%S' if self.time_of_day.second else '%H:%M')} {self.tz}"
        if scheduled:
            return f"by {clock} on the day the interval ends (the next day if that is not after the end)"
        return f"by the first {clock} after the run's creation"
