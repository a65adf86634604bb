"""When a scheduled pipeline's runs are due, and which data interval each covers.

A scheduled run covers the interval ``[start, end)`` between two consecutive
ticks of its cron schedule. It is due at ``end``; its logical date is
``start``. Every datetime returned is aware and in the pipeline's timezone;
compare them as instants (``a.astimezone(UTC)``): Python compares and
subtracts two datetimes of the *same* zone by wall time, ignoring DST.

Daylight saving time (see docs/scheduling.md):

- A schedule whose hour field is ``*`` (hourly, every 15 minutes...) advances
  in absolute time: it fires at every instant whose local wall time matches.
  The repeated hour of a fall-back runs twice (two distinct UTC hours); the
  hour skipped in spring does not exist, so nothing is due in it. Every real
  hour keeps exactly one hourly run.
- Any other schedule (fixed hours: ``30 2 * * *``, ``0 */2 * * *``) is
  evaluated in local wall time. A tick that does not exist (inside the spring
  gap) fires at the first instant after the gap; a tick that happens twice
  fires once, at its first occurrence. Ticks that land on the same instant
  fire once.

Intervals are contiguous (each one's end is the next one's start), never
empty. ``start_date`` and ``end_date`` bound the intervals of a pipeline: the
first starts at the first tick at or after ``start_date``; none starts after
``end_date`` (the last run's logical date is ``<= end_date``, Airflow's rule).
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING

from headwater.errors import DefinitionError
from headwater.model.context import DataInterval

if TYPE_CHECKING:
    from headwater.model.pipeline import Pipeline

Interval = DataInterval
"""``[start, end)``: the data interval of one run (the same class as ``ctx.data_interval``)."""

_HORIZON_DAYS = 12 * 366  # a schedule with no matching day in 12 years never fires (Feb 29 recurs within 8)
_DAY = timedelta(days=1)
_TINY = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)


# -- local wall time -> instants ---------------------------------------------------------------


def _offset(dt: datetime) -> int:
    off = dt.utcoffset()
    assert off is not None
    return int(off.total_seconds())


_EPOCH = datetime(1970, 1, 1)
_FIXED_ZONE = re.compile(r"^(Etc/)?(UTC|UCT|GMT|GMT[+-]?0|GMT[+-]\d{1,2}|Zulu|Universal|Greenwich)$")


def _fixed_offset(tz: tzinfo) -> int | None:
    """The offset in seconds of a zone that never changes it (UTC, Etc/GMT+5...), else None."""
    if isinstance(tz, timezone) or _FIXED_ZONE.match(str(getattr(tz, "key", ""))):
        return _offset(datetime(2000, 1, 1, tzinfo=tz))
    return None


def _first_instant_after_gap(lo: int, hi: int, tz: tzinfo) -> int:
    """The transition instant in ``(lo, hi]``, where the offset at ``lo`` differs from the one at ``hi``."""
    target = _offset(datetime.fromtimestamp(hi, tz))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(datetime.fromtimestamp(mid, tz)) == target:
            hi = mid
        else:
            lo = mid
    return hi


def _instants(naive: datetime, tz: tzinfo, *, every_hour: bool) -> tuple[int, ...]:
    """The instants (epoch seconds, ascending) at which the local wall time ``naive`` (whole seconds) fires."""
    base = (naive - _EPOCH) // _SECOND
    off0 = tz.utcoffset(naive)  # a naive datetime has fold=0
    off1 = tz.utcoffset(naive.replace(fold=1))
    assert off0 is not None and off1 is not None
    o0, o1 = off0 // _SECOND, off1 // _SECOND
    if o0 == o1:
        return (base - o0,)
    if o0 > o1:  # repeated wall time (fall back): fold=0 is the first occurrence
        return (base - o0, base - o1) if every_hour else (base - o0,)
    # nonexistent wall time (spring forward): fold=1 lands before the jump, fold=0 after it
    if every_hour:
        return ()
    return (_first_instant_after_gap(base - o1, base - o0, tz),)


def localize(naive: datetime, tz: tzinfo) -> datetime:
    """The instant of local wall time ``naive`` in ``tz``, by the fixed-hour DST rule.

    A wall time inside a spring-forward gap gives the first instant after the
    gap; one that happens twice gives its first occurrence (its second if
    ``naive.fold`` is 1).
    """
    wall = naive.replace(tzinfo=None, microsecond=0, fold=0)
    instants = _instants(wall, tz, every_hour=True) or _instants(wall, tz, every_hour=False)
    instant = instants[-1] if naive.fold else instants[0]
    return datetime.fromtimestamp(instant, tz).replace(microsecond=naive.microsecond)


def _aware(moment: datetime, tz: tzinfo) -> datetime:
    """``moment`` as an aware datetime; a naive one is local time in ``tz``."""
    return moment if moment.tzinfo is not None else localize(moment, tz)


# -- cron evaluated on naive wall-clock times ----------------------------------------------------


class _Cron:
    """A cron expression's ticks on naive (wall-clock) datetimes, strictly after/before a moment.

    Plain expressions (numbers, ranges, lists, steps) are evaluated here day by
    day, which is much faster than croniter; ``L``, ``#``, ``W`` go to croniter.
    """

    def __init__(self, expr: str) -> None:
        from croniter import croniter

        parsed = croniter(expr)
        expanded: list[list[int | str]] = [list(f) for f in parsed.expanded]
        self.expr = expr
        self.every_hour = expanded[1] == ["*"]
        self.plain = (
            len(expanded) in (5, 6)
            and not parsed.nth_weekday_of_month
            and not getattr(parsed, "nearest_weekday", None)
            and all(isinstance(v, int) or v == "*" for f in expanded for v in f)
        )
        if not self.plain:
            return

        def values(index: int, full: range) -> list[int]:
            f = expanded[index]
            return list(full) if f == ["*"] else sorted(int(v) for v in f)

        def restriction(index: int) -> frozenset[int] | None:
            f = expanded[index]
            return None if f == ["*"] else frozenset(int(v) for v in f)

        seconds = values(5, range(60)) if len(expanded) == 6 else [0]
        self.times = sorted(
            h * 3600 + m * 60 + s for h in values(1, range(24)) for m in values(0, range(60)) for s in seconds
        )
        self.doms = restriction(2)
        self.months = restriction(3)
        self.dows = None if expanded[4] == ["*"] else frozenset(int(v) % 7 for v in expanded[4])

    def day_matches(self, day: date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        dom = self.doms is None or day.day in self.doms
        dow = self.dows is None or (day.weekday() + 1) % 7 in self.dows
        if self.doms is not None and self.dows is not None:
            return dom or dow  # both restricted: either matches (cron's rule, croniter's default)
        return dom and dow

    def after(self, moment: datetime) -> Iterator[datetime]:
        """Ticks strictly after the naive ``moment``, ascending."""
        if not self.plain:
            yield from self._croniter(moment, forward=True)
            return
        day = moment.date()
        start = bisect_right(self.times, moment.hour * 3600 + moment.minute * 60 + moment.second)
        misses = 0
        try:
            while misses < _HORIZON_DAYS:
                if self.day_matches(day) and start < len(self.times):
                    misses = 0
                    midnight = datetime(day.year, day.month, day.day)
                    for t in self.times[start:]:
                        yield midnight + timedelta(seconds=t)
                else:
                    misses += 1
                start = 0
                day += _DAY
        except OverflowError:
            return

    def before(self, moment: datetime) -> Iterator[datetime]:
        """Ticks strictly before the naive ``moment``, descending."""
        if not self.plain:
            yield from self._croniter(moment, forward=False)
            return
        day = moment.date()
        secs = moment.hour * 3600 + moment.minute * 60 + moment.second
        end = bisect_right(self.times, secs) if moment.microsecond else bisect_left(self.times, secs)
        misses = 0
        try:
            while misses < _HORIZON_DAYS:
                if self.day_matches(day) and end > 0:
                    misses = 0
                    midnight = datetime(day.year, day.month, day.day)
                    for t in reversed(self.times[:end]):
                        yield midnight + timedelta(seconds=t)
                else:
                    misses += 1
                end = len(self.times)
                day -= _DAY
        except OverflowError:
            return

    def _croniter(self, moment: datetime, *, forward: bool) -> Iterator[datetime]:
        from croniter import CroniterBadDateError, croniter

        it = croniter(self.expr, moment)
        while True:
            try:
                tick = it.get_next(datetime) if forward else it.get_prev(datetime)
            except (CroniterBadDateError, OverflowError, ValueError):
                return
            yield tick


@lru_cache(maxsize=1024)
def _cron(expr: str) -> _Cron:
    return _Cron(expr)


@lru_cache(maxsize=4096)
def _margin(tz: tzinfo, day: int) -> timedelta:
    """The largest change of ``tz``'s offset within two days of epoch day ``day``."""
    offsets = {_offset(datetime.fromtimestamp((day + d) * 86400, tz)) for d in (-2, -1, 0, 1, 2, 3)}
    return timedelta(seconds=max(offsets) - min(offsets))


# -- the timetable --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timetable:
    """The runs of a cron schedule in a timezone, optionally bounded by start and end dates.

    ``cron`` is a cron expression (presets already expanded, see
    :func:`headwater.model.schedule.cron_expression`). Naive datetimes passed
    to any method are local time in ``tz``.
    """

    cron: str
    tz: tzinfo
    start_date: datetime | None = None
    end_date: datetime | None = None
    _parsed: _Cron = field(init=False, repr=False, compare=False)
    _fixed: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parsed", _cron(self.cron))
        object.__setattr__(self, "_fixed", _fixed_offset(self.tz))
        for name in ("start_date", "end_date"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, localize(value, self.tz))

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline) -> Timetable | None:
        """The pipeline's timetable, bounded by its start and end dates; None for a manual pipeline."""
        if pipeline.cron is None:
            return None
        return cls(pipeline.cron, pipeline.tz, pipeline.start_date, pipeline.end_date)

    @property
    def every_hour(self) -> bool:
        """True if the schedule advances in absolute time (its hour field is ``*``)."""
        return self._parsed.every_hour

    # -- ticks as epoch seconds ----------------------------------------------------------------------

    def _margin(self, at: float) -> timedelta:
        """How far a DST change near ``at`` can move a tick's wall time away from ``at``'s."""
        if self._fixed is not None:
            return timedelta(0)
        return _margin(self.tz, int(at // 86400))

    def _ticks(self, naive: Iterator[datetime], *, ascending: bool) -> Iterator[int]:
        """The instants of naive wall-clock ticks, ordered and without repeats.

        A wall time gives 0, 1 or 2 instants; only the repeated hour of an
        every-hour schedule comes out of order, so a small heap restores the
        order: an instant is released once no later wall time can give an
        earlier (ascending) or later (descending) one.
        """
        if self._fixed is not None:
            fixed = self._fixed
            yield from ((wall - _EPOCH) // _SECOND - fixed for wall in naive)
            return
        sign = 1 if ascending else -1
        every_hour = self._parsed.every_hour
        heap: list[int] = []
        last: int | None = None
        for wall in naive:
            instants = _instants(wall, self.tz, every_hour=every_hour)
            if not instants:
                continue
            for instant in instants:
                heapq.heappush(heap, sign * instant)
            bound = sign * (instants[0] if ascending else instants[-1])
            while heap and heap[0] <= bound:
                key = heapq.heappop(heap)
                if key != last:
                    last = key
                    yield sign * key
        while heap:
            key = heapq.heappop(heap)
            if key != last:
                last = key
                yield sign * key

    def _ticks_from(self, at: float) -> Iterator[int]:
        """Ticks at or after ``at``, ascending (start and end dates do not apply)."""
        wall = datetime.fromtimestamp(at, self.tz).replace(tzinfo=None) - self._margin(at) - _TINY
        first = math.ceil(at)
        return (t for t in self._ticks(self._parsed.after(wall), ascending=True) if t >= first)

    def _ticks_until(self, at: float) -> Iterator[int]:
        """Ticks at or before ``at``, descending (start and end dates do not apply)."""
        wall = datetime.fromtimestamp(at, self.tz).replace(tzinfo=None) + self._margin(at) + _TINY
        last = math.floor(at)
        return (t for t in self._ticks(self._parsed.before(wall), ascending=False) if t <= last)

    def _last_tick(self, at: float) -> int | None:
        return next(self._ticks_until(at), None)

    def _pairs(self, at: float, *, bounded: bool) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of the intervals starting at or after ``at``, ascending.

        ``bounded``: only intervals within the start and end dates.
        """
        last_start = math.inf
        if bounded:
            if self.start_date is not None:
                at = max(at, self.start_date.timestamp())
            if self.end_date is not None:
                last_start = self.end_date.timestamp()
        ticks = self._ticks_from(at)
        start = next(ticks, None)
        if start is None:
            return
        for end in ticks:
            if start > last_start:
                return
            yield start, end
            start = end

    def _dt(self, instant: int) -> datetime:
        return datetime.fromtimestamp(instant, self.tz)

    def _intervals(self, pairs: Iterator[tuple[int, int]]) -> Iterator[Interval]:
        """Pairs as Intervals; contiguous intervals share one datetime object for end and next start."""
        prev_end: tuple[int, datetime] | None = None
        for s, e in pairs:
            start = prev_end[1] if prev_end is not None and prev_end[0] == s else self._dt(s)
            end = self._dt(e)
            prev_end = (e, end)
            yield Interval(start, end)

    def _ts(self, moment: datetime) -> float:
        return _aware(moment, self.tz).timestamp()

    # -- public API ----------------------------------------------------------------------------------

    def ticks(self, after: datetime) -> Iterator[datetime]:
        """Every tick at or after ``after``, ascending (start and end dates do not apply)."""
        return (self._dt(t) for t in self._ticks_from(self._ts(after)))

    def next_after(self, moment: datetime) -> Interval | None:
        """The first interval starting at or after ``moment``, within the start and end dates."""
        return next(self._intervals(self._pairs(self._ts(moment), bounded=True)), None)

    def intervals_between(self, start: datetime, end: datetime) -> list[Interval]:
        """Every interval whose start is in ``[start, end]``, oldest first (for backfills).

        The range is explicit, so the start and end dates do not apply.
        """
        last = self._ts(end)
        pairs = itertools.takewhile(lambda p: p[0] <= last, self._pairs(self._ts(start), bounded=False))
        return list(self._intervals(pairs))

    def latest_complete(self, now: datetime) -> Interval | None:
        """The last interval ended by ``now`` (``end <= now``), within the start and end dates."""
        ticks = self._ticks_until(self._ts(now))
        end = next(ticks, None)
        start = next(ticks, None)
        if end is None or start is None:
            return None
        if self.end_date is not None and start > self.end_date.timestamp():
            last_start = self._last_tick(self.end_date.timestamp())
            last = None if last_start is None else next(self._pairs(last_start, bounded=False), None)
            if last is None:
                return None
            start, end = last
        if self.start_date is not None and start < self.start_date.timestamp():
            return None
        return Interval(self._dt(start), self._dt(end))

    def due(
        self, now: datetime, last_end: datetime | None, *, catchup: bool, limit: int | None = None
    ) -> list[Interval]:
        """The intervals to create runs for at ``now``, oldest first.

        ``last_end`` is the end of the last interval already created (None if
        none). Only intervals that start at or after it (and within the start
        and end dates) and have ended by ``now`` count. With ``catchup`` all of
        them are due (at most ``limit``, oldest first); without, only the
        latest. With neither ``last_end`` nor a start date there is nothing to
        catch up: the latest complete interval is due.
        """
        lower = [self._ts(d) for d in (last_end, self.start_date) if d is not None]
        if not catchup or not lower:
            latest = self.latest_complete(now)
            if latest is None or (lower and latest.start.timestamp() < max(lower)):
                return []
            return [latest]
        at = self._ts(now)
        pairs = itertools.takewhile(lambda p: p[1] <= at, self._pairs(max(lower), bounded=True))
        return list(self._intervals(itertools.islice(pairs, limit)))

    def next_due_time(self, now: datetime, last_end: datetime | None) -> datetime | None:
        """When the next interval after ``last_end`` that is not yet due at ``now`` becomes due.

        The scheduler can sleep until then; None: no run will ever be due again.
        """
        at = self._ts(now)
        begin = [x for x in (self._last_tick(at), None if last_end is None else self._ts(last_end)) if x is not None]
        for _, e in self._pairs(max(begin) if begin else at, bounded=True):
            if e > at:
                return self._dt(e)
        return None

    def preview(self, now: datetime, n: int = 5) -> list[Interval]:
        """The next ``n`` intervals to become due after ``now`` (the first may be in progress)."""
        at = self._ts(now)
        last = self._last_tick(at)
        pairs = (p for p in self._pairs(at if last is None else last, bounded=True) if p[1] > at)
        return list(self._intervals(itertools.islice(pairs, n)))

    def interval_containing_start(self, logical_date: datetime) -> Interval:
        """The interval that contains ``logical_date``: ``start <= logical_date < end``.

        For a tick it is the interval starting there, the run for that logical
        date. Start and end dates do not apply (for ``--date``).
        """
        start = self._last_tick(self._ts(logical_date))
        pair = None if start is None else next(self._pairs(start, bounded=False), None)
        if pair is None:
            raise DefinitionError(f"schedule: {self.cron!r} has no tick around {logical_date.isoformat()}")
        return Interval(self._dt(pair[0]), self._dt(pair[1]))


def check_schedule(cron: str, tz: tzinfo, start_date: datetime | None, end_date: datetime | None) -> None:
    """Raise DefinitionError if the schedule can never fire, or fires first after ``end_date``."""
    timetable = Timetable(cron, tz)
    reference = start_date if start_date is not None else datetime(2000, 1, 1, tzinfo=tz)
    first = next(timetable.ticks(reference), None)
    if first is None:
        raise DefinitionError(f"schedule: {cron!r} never fires (no date matches it)")
    if start_date is not None and end_date is not None and first.timestamp() > end_date.timestamp():
        raise DefinitionError(
            f"schedule: {cron!r} first fires at {first.isoformat()} (the first tick at or after start_date "
            f"{start_date.isoformat()}), after end_date {end_date.isoformat()}: the pipeline would never run"
        )
