"""An asset's freshness policy: how old its newest materialization may get, and when that is checked.

Two forms (``@asset(freshness=Freshness(...))``, see docs/partitions.md):

- ``Freshness(max_lag="2h")``: the asset is late as soon as its newest
  materialization is ``max_lag`` old: it was expected by ``last + max_lag``.
- ``Freshness(max_lag="2h", cron="0 8 * * *", timezone="Europe/Berlin")``: at
  every cron tick ``t`` the newest materialization must be less than ``max_lag``
  old (newer than ``t - max_lag``); the asset is late from the latest tick that
  was not met (its ``expected_by``) until it is materialized again.

A materialization is fresh for ``max_lag``, not including its end: one exactly
``max_lag`` old is stale. An asset never materialized is late from the moment
the policy applies (``since``, the first evaluation; without cron) or from
the latest tick (with cron). Evaluation is pure: pass ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from headwater.errors import DefinitionError
from headwater.model.durations import Duration, format_duration, parse_duration
from headwater.model.schedule import cron_expression, parse_timezone
from headwater.model.timetable import Timetable, check_schedule


@dataclass(frozen=True, slots=True)
class FreshnessCheck:
    """The result of evaluating a freshness policy at ``now``.

    ``expected_by``: the instant a materialization was due and is missing (None when fresh);
    ``minutes_late``: ``now - expected_by`` in minutes (0 when fresh); ``next_check``: the next
    instant the answer can change without a new materialization (None: only a materialization changes it).
    """

    fresh: bool
    expected_by: datetime | None
    minutes_late: float
    next_check: datetime | None


def _utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken as UTC (the store's convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Freshness:
    """A freshness policy: ``Freshness(max_lag="2h", cron="0 8 * * *", timezone="Europe/Berlin")``."""

    max_lag: Duration = field(compare=False)
    cron: str | None = field(default=None, compare=False)
    timezone: str = "UTC"
    lag: timedelta = field(init=False)
    expression: str | None = field(init=False)
    tz: tzinfo = field(init=False, repr=False, compare=False)
    _timetable: Timetable | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seconds = parse_duration(self.max_lag, what="freshness: max_lag")
        if seconds <= 0:
            raise DefinitionError(f"freshness: max_lag must be positive, got {self.max_lag!r}")
        object.__setattr__(self, "lag", timedelta(seconds=seconds))
        if not isinstance(self.timezone, str):
            raise DefinitionError(
                f"freshness: timezone must be an IANA name like 'Europe/Berlin', got {self.timezone!r}"
            )
        try:
            tz = parse_timezone(self.timezone)
        except DefinitionError:
            raise DefinitionError(
                f"freshness: unknown timezone {self.timezone!r} (use an IANA name like 'Europe/Berlin')"
            ) from None
        object.__setattr__(self, "tz", tz)
        expression = None
        timetable = None
        if self.cron is not None:
            if not isinstance(self.cron, str):
                raise DefinitionError(f"freshness: cron must be a cron expression like '0 8 * * *', got {self.cron!r}")
            try:
                expression = cron_expression(self.cron)
                check_schedule(expression, tz, None, None)
            except DefinitionError as exc:
                reason = exc.message.removeprefix("schedule: ")
                raise DefinitionError(f"freshness: cron {reason}") from None
            timetable = Timetable(expression, tz)
        object.__setattr__(self, "expression", expression)
        object.__setattr__(self, "_timetable", timetable)

    def describe(self) -> str:
        """The policy for humans: ``at most 2h old at each '0 8 * * *' (Europe/Berlin)``."""
        lag = self.max_lag if isinstance(self.max_lag, str) else format_duration(self.lag.total_seconds())
        text = f"at most {lag} old"
        if self.cron is not None:
            text += f" at each {self.cron!r} ({self.timezone})"
        return text

    def evaluate(
        self, last_materialized_at: datetime | None, now: datetime, *, since: datetime | None = None
    ) -> FreshnessCheck:
        """Is the asset fresh at ``now``, given its newest materialization (None: never materialized)?

        ``since``: when the policy started to apply; an asset never materialized is late from then
        (default: from ``now``; fresh until then if it is later), and cron ticks before it are not
        checked. Naive datetimes are UTC.
        """
        now = _utc(now)
        last = None if last_materialized_at is None else _utc(last_materialized_at)
        start = None if since is None else _utc(since)
        if self._timetable is None:
            if last is None:
                if start is not None and start > now:  # not due yet
                    return FreshnessCheck(fresh=True, expected_by=None, minutes_late=0.0, next_check=start)
                return self._late(start or now, now, None)
            expected = last + self.lag
            if now < expected:
                return FreshnessCheck(fresh=True, expected_by=None, minutes_late=0.0, next_check=expected)
            return self._late(expected, now, None)
        latest = self._timetable.latest_complete(now)
        tick = None if latest is None else _utc(latest.end)
        if tick is not None and start is not None and tick < start:
            tick = None
        if tick is None or (last is not None and tick < last + self.lag):
            # fresh until the first tick this materialization cannot meet
            bounds = [b for b in (None if last is None else last + self.lag, start) if b is not None]
            next_check = self._next_tick(now, max(bounds) if bounds else None)
            return FreshnessCheck(fresh=True, expected_by=None, minutes_late=0.0, next_check=next_check)
        return self._late(tick, now, self._next_tick(now, None))

    def _next_tick(self, now: datetime, not_before: datetime | None) -> datetime | None:
        """The first cron tick after ``now`` and at or after ``not_before``."""
        assert self._timetable is not None
        for tick in self._timetable.ticks(now if not_before is None else max(now, not_before)):
            if tick > now:
                return _utc(tick)
        return None

    @staticmethod
    def _late(expected: datetime, now: datetime, next_check: datetime | None) -> FreshnessCheck:
        minutes = max((now - expected).total_seconds() / 60.0, 0.0)
        return FreshnessCheck(fresh=False, expected_by=expected, minutes_late=minutes, next_check=next_check)
