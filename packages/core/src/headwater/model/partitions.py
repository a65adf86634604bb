"""Partition sets of an asset (time windows or static keys), and how the partitions of two assets map.

A time partition covers the window ``[start, end)`` in its definition's
timezone; its key is the local start: ``2026-03-01T13:00`` (hourly),
``2026-03-01`` (daily; weekly partitions start on Monday), ``2026-03``
(monthly). Windows follow the wall clock across DST: a Berlin daily partition
on the spring-forward day is 23 hours long. An hour that happens twice (fall
back) gives two hourly partitions; the second one's key carries its UTC offset
(``2026-10-25T02:00+01:00``); an hour the clocks skip has no partition.

The first partition is the first one starting at or after ``start``; the last
is the one containing ``end`` (it starts at or before ``end``). See docs/partitions.md.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from headwater.errors import DefinitionError
from headwater.model.context import DataInterval
from headwater.model.schedule import parse_date, parse_timezone
from headwater.model.timetable import _EPOCH, _fixed_offset, _instants, localize

PartitionWindow = DataInterval
"""``[start, end)`` of one time partition, aware datetimes in the definition's timezone (a run's data interval)."""

DateLike = str | date | datetime

_HOUR = 3600
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_HOUR_KEY = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}):00(?:([+-])(\d{2}):(\d{2}))?$")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class PartitionsDefinition(ABC):
    """The set of partition keys of an asset: time windows (hourly, daily...) or a static list."""

    __slots__ = ()

    @property
    @abstractmethod
    def is_time_based(self) -> bool:
        """True for time partitions (each key has a window), False for static keys."""

    @abstractmethod
    def keys(self, *, now: datetime | None = None) -> list[str]:
        """Every key in order; for time partitions only those whose window has ended by ``now`` (default: now)."""

    @abstractmethod
    def problem(self, key: str) -> str | None:
        """Why ``key`` is not in the set (None if it is)."""

    @abstractmethod
    def window(self, key: str) -> PartitionWindow | None:
        """The time window of ``key`` (None for static partitions); raise DefinitionError if not in the set."""

    @abstractmethod
    def keys_between(self, first: str, last: str) -> list[str]:
        """The keys from ``first`` to ``last`` inclusive, in order; both must be in the set."""

    @abstractmethod
    def key_for(self, moment: datetime) -> str | None:
        """The key whose window contains ``moment`` (None: outside the set, or static partitions)."""

    @abstractmethod
    def describe(self) -> str:
        """The set for humans: ``daily partitions from 2026-01-01 (UTC)``."""

    def contains(self, key: str) -> bool:
        """True if ``key`` is in the set (the partition may still be in the future)."""
        return isinstance(key, str) and self.problem(key) is None

    def check_key(self, key: str) -> str:
        """Return ``key`` if it is in the set, else raise DefinitionError naming the set and the expected format."""
        if not isinstance(key, str):
            raise DefinitionError(f"partition {key!r} is not in {self.describe()}: a partition key is a string")
        reason = self.problem(key)
        if reason is not None:
            raise DefinitionError(f"partition {key!r} is not in {self.describe()}: {reason}")
        return key


# -- time partitions ---------------------------------------------------------------------------------


def _to_ts(moment: datetime, tz: tzinfo) -> int:
    """Whole epoch seconds (floored) of ``moment``; a naive one is local time in ``tz``."""
    aware = moment if moment.tzinfo is not None else localize(moment, tz)
    return math.floor(aware.timestamp())


@dataclass(frozen=True, slots=True)
class _TimePartitions(PartitionsDefinition):
    """Partitions by consecutive time windows; a partition is identified internally by an ordered int."""

    start: DateLike = field(compare=False)
    end: DateLike | None = field(default=None, compare=False)
    timezone: str = "UTC"
    tz: tzinfo = field(init=False, repr=False, compare=False)
    _fixed: int | None = field(init=False, repr=False, compare=False)
    _first: int = field(init=False, repr=False)
    _last: int | None = field(init=False, repr=False)

    kind = "time"
    example = ""

    def __post_init__(self) -> None:
        what = f"{self.kind} partitions"
        if not isinstance(self.timezone, str):
            raise DefinitionError(f"{what}: timezone must be an IANA name like 'Europe/Berlin', got {self.timezone!r}")
        try:
            tz = parse_timezone(self.timezone)
        except DefinitionError:
            raise DefinitionError(
                f"{what}: unknown timezone {self.timezone!r} (use an IANA name like 'Europe/Berlin')"
            ) from None
        object.__setattr__(self, "tz", tz)
        object.__setattr__(self, "_fixed", _fixed_offset(tz))
        if self.start is None:
            raise DefinitionError(f"{what}: start is required (the first date, like '2026-01-01')")
        start = parse_date(self._date_like(self.start), tz, what=f"{what} start")
        assert start is not None
        first = self._containing(_to_ts(start, tz))
        if self._start_ts(first) < start.timestamp():
            first = self._next(first)
        object.__setattr__(self, "_first", first)
        last = None
        if self.end is not None:
            end = parse_date(self._date_like(self.end), tz, what=f"{what} end")
            assert end is not None
            last = self._containing(_to_ts(end, tz))
            if last < first:
                raise DefinitionError(
                    f"{what}: end {_show(self.end)} is before the first partition {self._key(first)} "
                    f"(the first {self.kind} partition starting at or after start {_show(self.start)})"
                )
        object.__setattr__(self, "_last", last)

    def _date_like(self, value: DateLike) -> DateLike:
        """``value`` as parse_date takes it (monthly sets also accept a month key like ``2026-01``)."""
        return value

    # -- the calendar of one granularity (subclasses) ---------------------------------------------------

    def _containing(self, ts: int) -> int:
        """The partition whose window contains epoch second ``ts`` (ignoring the set's bounds)."""
        raise NotImplementedError

    def _start_ts(self, p: int) -> int:
        """The epoch second at which partition ``p`` starts."""
        raise NotImplementedError

    def _next(self, p: int) -> int:
        raise NotImplementedError

    def _prev(self, p: int) -> int:
        raise NotImplementedError

    def _key(self, p: int) -> str:
        raise NotImplementedError

    def _parse(self, key: str) -> int | str:
        """The partition of ``key`` (ignoring the bounds), or why it is not a key of this granularity."""
        raise NotImplementedError

    def _keys(self, first: int, last: int) -> list[str]:
        """The keys of partitions ``first`` to ``last`` inclusive."""
        keys = []
        p = first
        while p <= last:
            keys.append(self._key(p))
            p = self._next(p)
        return keys

    # -- shared -------------------------------------------------------------------------------------------

    @property
    def is_time_based(self) -> bool:
        return True

    def _shift(self, p: int, n: int) -> int:
        for _ in range(abs(n)):
            p = self._next(p) if n > 0 else self._prev(p)
        return p

    def _end_ts(self, p: int) -> int:
        return self._start_ts(self._next(p))

    def _window(self, p: int) -> PartitionWindow:
        return PartitionWindow(
            datetime.fromtimestamp(self._start_ts(p), self.tz), datetime.fromtimestamp(self._end_ts(p), self.tz)
        )

    def _clip(self, first: int, last: int) -> tuple[int, int]:
        first = max(first, self._first)
        if self._last is not None:
            last = min(last, self._last)
        return first, last

    def _bounds_problem(self, p: int) -> str | None:
        if p < self._first:
            return f"it is before the first partition {self._key(self._first)}"
        if self._last is not None and p > self._last:
            return f"it is after the last partition {self._key(self._last)}"
        return None

    def _checked(self, key: str) -> int:
        """The partition of ``key``; raise DefinitionError if it is not in the set."""
        if not isinstance(key, str):
            raise DefinitionError(f"partition {key!r} is not in {self.describe()}: a partition key is a string")
        p = self._parse(key)
        reason = p if isinstance(p, str) else self._bounds_problem(p)
        if reason is not None:
            raise DefinitionError(f"partition {key!r} is not in {self.describe()}: {reason}")
        assert isinstance(p, int)
        return p

    def problem(self, key: str) -> str | None:
        p = self._parse(key)
        return p if isinstance(p, str) else self._bounds_problem(p)

    def keys(self, *, now: datetime | None = None) -> list[str]:
        moment = datetime.now(UTC) if now is None else now
        last = self._prev(self._containing(_to_ts(moment, self.tz)))  # the newest partition ended by now
        first, last = self._clip(self._first, last)
        return self._keys(first, last) if first <= last else []

    def window(self, key: str) -> PartitionWindow:
        return self._window(self._checked(key))

    def keys_between(self, first: str, last: str) -> list[str]:
        a, b = self._checked(first), self._checked(last)
        if a > b:
            raise DefinitionError(f"partitions {first}..{last} of {self.describe()}: {first} is after {last}")
        return self._keys(a, b)

    def key_for(self, moment: datetime) -> str | None:
        p = self._containing(_to_ts(moment, self.tz))
        if p < self._first or (self._last is not None and p > self._last):
            return None
        return self._key(p)

    def describe(self) -> str:
        bounds = f"from {self._key(self._first)}"
        if self._last is not None:
            bounds += f" to {self._key(self._last)}"
        return f"{self.kind} partitions {bounds} ({self.timezone})"

    @property
    def first_key(self) -> str:
        """The key of the first partition."""
        return self._key(self._first)

    @property
    def last_key(self) -> str | None:
        """The key of the last partition (None: the set has no end)."""
        return None if self._last is None else self._key(self._last)

    def _naive_ts(self, naive: datetime) -> int:
        """The epoch second of local midnight/hour ``naive`` (a time in a DST gap: the first instant after it)."""
        if self._fixed is not None:
            return (naive - _EPOCH) // timedelta(seconds=1) - self._fixed
        return math.floor(localize(naive, self.tz).timestamp())


def _show(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


@dataclass(frozen=True, slots=True)
class _CalendarPartitions(_TimePartitions):
    """Partitions of whole local days (daily, weekly, monthly): ``p`` numbers them consecutively."""

    def _first_day(self, p: int) -> date:
        raise NotImplementedError

    def _of_day(self, day: date) -> int:
        raise NotImplementedError

    def _containing(self, ts: int) -> int:
        if self._fixed is not None:
            day = (_EPOCH + timedelta(seconds=ts + self._fixed)).date()
        else:
            day = datetime.fromtimestamp(ts, self.tz).date()
        return self._of_day(day)

    def _start_ts(self, p: int) -> int:
        day = self._first_day(p)
        return self._naive_ts(datetime(day.year, day.month, day.day))

    def _next(self, p: int) -> int:
        return p + 1

    def _prev(self, p: int) -> int:
        return p - 1

    def _shift(self, p: int, n: int) -> int:
        return p + n

    def _key(self, p: int) -> str:
        return self._first_day(p).isoformat()

    def _keys(self, first: int, last: int) -> list[str]:
        return [self._key(p) for p in range(first, last + 1)]

    def _parse_day(self, key: str) -> date | str:
        if _DATE.match(key):
            try:
                return date.fromisoformat(key)
            except ValueError:
                pass
        return f"expected a date like {self.example}"


@dataclass(frozen=True, slots=True)
class DailyPartitions(_CalendarPartitions):
    """One partition per local day: keys like ``2026-03-01``."""

    kind = "daily"
    example = "2026-03-01"

    def _first_day(self, p: int) -> date:
        return date.fromordinal(p)

    def _of_day(self, day: date) -> int:
        return day.toordinal()

    def _keys(self, first: int, last: int) -> list[str]:
        fromordinal = date.fromordinal
        return [fromordinal(o).isoformat() for o in range(first, last + 1)]

    def _parse(self, key: str) -> int | str:
        day = self._parse_day(key)
        return day if isinstance(day, str) else day.toordinal()


@dataclass(frozen=True, slots=True)
class WeeklyPartitions(_CalendarPartitions):
    """One partition per week, Monday to Sunday: keys are the Monday's date, like ``2026-03-02``."""

    kind = "weekly"
    example = "2026-03-02 (a Monday)"

    def _first_day(self, p: int) -> date:
        return date.fromordinal(p * 7 + 1)  # ordinal 1 (0001-01-01) is a Monday

    def _of_day(self, day: date) -> int:
        return (day.toordinal() - 1) // 7

    def _parse(self, key: str) -> int | str:
        day = self._parse_day(key)
        if isinstance(day, str):
            return day
        if day.weekday() != 0:
            monday = day - timedelta(days=day.weekday())
            return (
                f"{key} is a {_WEEKDAYS[day.weekday()]}; weekly partitions start on Monday "
                f"({monday.isoformat()} or {(monday + timedelta(days=7)).isoformat()})"
            )
        return self._of_day(day)


@dataclass(frozen=True, slots=True)
class MonthlyPartitions(_CalendarPartitions):
    """One partition per calendar month: keys like ``2026-03``."""

    kind = "monthly"
    example = "2026-03"

    def _first_day(self, p: int) -> date:
        year, month = divmod(p, 12)
        return date(year, month + 1, 1)

    def _date_like(self, value: DateLike) -> DateLike:
        if isinstance(value, str) and _MONTH.fullmatch(value.strip()):
            return f"{value.strip()}-01"
        return value

    def _of_day(self, day: date) -> int:
        return day.year * 12 + day.month - 1

    def _key(self, p: int) -> str:
        year, month = divmod(p, 12)
        return f"{year:04d}-{month + 1:02d}"

    def _parse(self, key: str) -> int | str:
        match = _MONTH.match(key)
        if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) == 0:
            return f"expected a month like {self.example}"
        return int(match.group(1)) * 12 + int(match.group(2)) - 1


@dataclass(frozen=True, slots=True)
class HourlyPartitions(_TimePartitions):
    """One partition per local hour: keys like ``2026-03-01T13:00``; ``p`` is the start's epoch second."""

    kind = "hourly"
    example = "2026-03-01T13:00"

    def _local(self, ts: int) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def _containing(self, ts: int) -> int:
        if self._fixed is not None:
            return ts - (ts + self._fixed) % _HOUR
        local = self._local(ts)
        while local.minute or local.second:  # more than once only where the offset changed by part of an hour
            ts -= local.minute * 60 + local.second
            local = self._local(ts)
        return ts

    def _start_ts(self, p: int) -> int:
        return p

    def _next(self, p: int) -> int:
        candidate = p + _HOUR
        if self._fixed is None:
            local = self._local(candidate)
            while local.minute or local.second:  # the offset changed by part of an hour: the next o'clock
                candidate += _HOUR - local.minute * 60 - local.second
                local = self._local(candidate)
        return candidate

    def _prev(self, p: int) -> int:
        return self._containing(p - 1)

    def _key(self, p: int) -> str:
        if self._fixed is not None:
            return (_EPOCH + timedelta(seconds=p + self._fixed)).isoformat(timespec="minutes")
        local = self._local(p)
        key = local.replace(tzinfo=None).isoformat(timespec="minutes")
        if local.fold and local.utcoffset() != local.replace(fold=0).utcoffset():
            key += local.isoformat()[-6:]  # the second occurrence of a repeated hour carries its offset
        return key

    def _keys(self, first: int, last: int) -> list[str]:
        if self._fixed is None:
            return _TimePartitions._keys(self, first, last)
        base = _EPOCH + timedelta(seconds=first + self._fixed)
        hour = timedelta(hours=1)
        return [(base + i * hour).isoformat(timespec="minutes") for i in range((last - first) // _HOUR + 1)]

    def _parse(self, key: str) -> int | str:
        expected = f"expected an hour like {self.example}"
        match = _HOUR_KEY.match(key)
        if match is None:
            return expected
        try:
            naive = datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}:00")
        except ValueError:
            return expected
        if match.group(3) is not None:
            offset = (int(match.group(4)) * 60 + int(match.group(5))) * 60 * (-1 if match.group(3) == "-" else 1)
            ts = (naive - _EPOCH) // timedelta(seconds=1) - offset
        elif self._fixed is not None:
            ts = (naive - _EPOCH) // timedelta(seconds=1) - self._fixed
        else:
            instants = _instants(naive, self.tz, every_hour=True)
            if not instants:
                return f"{key} does not exist in {self.timezone} (the clocks skip that hour)"
            ts = instants[0]
        if self._key(ts) != key:
            return f"{expected} (an hour of {self.timezone})"
        return ts


# -- static partitions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaticPartitions(PartitionsDefinition):
    """A fixed, ordered list of keys: ``StaticPartitions(["eu", "us"])``."""

    partition_keys: Sequence[str]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = self.partition_keys
        if isinstance(keys, str) or not isinstance(keys, Iterable):
            raise DefinitionError(f"static partitions: expected a list of keys like ['eu', 'us'], got {keys!r}")
        keys = tuple(keys)
        if not keys:
            raise DefinitionError("static partitions: the list of keys is empty")
        index: dict[str, int] = {}
        for key in keys:
            if not isinstance(key, str) or not key.strip():
                raise DefinitionError(f"static partitions: a key must be a non-empty string, got {key!r}")
            if key != key.strip() or "/" in key or len(key) > 200:
                raise DefinitionError(
                    f"static partitions: bad key {key!r} "
                    "(no '/', no leading or trailing spaces, at most 200 characters)"
                )
            if key in index:
                raise DefinitionError(f"static partitions: key {key!r} appears twice")
            index[key] = len(index)
        object.__setattr__(self, "partition_keys", keys)
        object.__setattr__(self, "_index", index)

    @property
    def is_time_based(self) -> bool:
        return False

    def keys(self, *, now: datetime | None = None) -> list[str]:
        return list(self.partition_keys)

    def problem(self, key: str) -> str | None:
        if key in self._index:
            return None
        return f"expected one of {_listing(self.partition_keys)}"

    def window(self, key: str) -> PartitionWindow | None:
        self.check_key(key)
        return None

    def keys_between(self, first: str, last: str) -> list[str]:
        a, b = self._index[self.check_key(first)], self._index[self.check_key(last)]
        if a > b:
            raise DefinitionError(
                f"partitions {first}..{last} of {self.describe()}: {first} comes after {last} in the list"
            )
        return list(self.partition_keys[a : b + 1])

    def key_for(self, moment: datetime) -> str | None:
        return None

    def describe(self) -> str:
        return f"static partitions [{_listing(self.partition_keys)}]"


def _listing(keys: Sequence[str], limit: int = 8) -> str:
    if len(keys) <= limit:
        return ", ".join(keys)
    return ", ".join(keys[:limit]) + f", ... ({len(keys)} keys)"


# -- mappings -----------------------------------------------------------------------------------------


class PartitionMapping(ABC):
    """Which upstream partitions a downstream partition reads (and the inverse)."""

    __slots__ = ()

    @abstractmethod
    def upstream_keys(
        self, downstream: PartitionsDefinition, key: str, upstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        """The keys of ``upstream`` that downstream partition ``key`` reads (only keys in the upstream set)."""

    @abstractmethod
    def downstream_keys(
        self, upstream: PartitionsDefinition, key: str, downstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        """The keys of ``downstream`` that read upstream partition ``key`` (only keys in the downstream set)."""

    def problem(self, downstream: PartitionsDefinition, upstream: PartitionsDefinition) -> str | None:
        """Why this mapping cannot map ``upstream`` to ``downstream`` (None if it can)."""
        return None


@dataclass(frozen=True, slots=True)
class IdentityPartitionMapping(PartitionMapping):
    """A downstream partition reads the upstream partition with the same key."""

    def upstream_keys(
        self, downstream: PartitionsDefinition, key: str, upstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        downstream.check_key(key)
        return [key] if upstream.contains(key) else []

    def downstream_keys(
        self, upstream: PartitionsDefinition, key: str, downstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        upstream.check_key(key)
        return [key] if downstream.contains(key) else []

    def problem(self, downstream: PartitionsDefinition, upstream: PartitionsDefinition) -> str | None:
        if isinstance(downstream, _TimePartitions) and isinstance(upstream, _TimePartitions):
            if downstream.kind != upstream.kind:
                return (
                    f"an identity mapping needs partitions of one granularity, not {downstream.kind} and "
                    f"{upstream.kind} (use TimeWindowPartitionMapping)"
                )
            return None
        if downstream.is_time_based != upstream.is_time_based:
            return "an identity mapping cannot map static partitions to time partitions"
        return None


@dataclass(frozen=True, slots=True)
class TimeWindowPartitionMapping(PartitionMapping):
    """A downstream partition reads the upstream partitions overlapping its window, widened by offsets.

    ``start_offset``/``end_offset`` move the first/last of those upstream
    partitions by that many upstream partitions: ``start_offset=-1,
    end_offset=-1`` makes a daily asset read the previous day.
    """

    start_offset: int = 0
    end_offset: int = 0

    def __post_init__(self) -> None:
        for name in ("start_offset", "end_offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise DefinitionError(f"TimeWindowPartitionMapping: {name} must be a whole number, got {value!r}")
        if self.start_offset > self.end_offset:
            raise DefinitionError(
                f"TimeWindowPartitionMapping: start_offset {self.start_offset} is after end_offset {self.end_offset}"
            )

    def upstream_keys(
        self, downstream: PartitionsDefinition, key: str, upstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        down, up = _time_pair(downstream, upstream)
        p = down._checked(key)
        first = up._shift(up._containing(down._start_ts(p)), self.start_offset)
        last = up._shift(up._containing(down._end_ts(p) - 1), self.end_offset)
        first, last = up._clip(first, last)
        return up._keys(first, last) if first <= last else []

    def downstream_keys(
        self, upstream: PartitionsDefinition, key: str, downstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        down, up = _time_pair(downstream, upstream)
        u = up._checked(key)
        # downstream d reads u iff first(d) + start_offset <= u <= last(d) + end_offset
        lo, hi = up._shift(u, -self.end_offset), up._shift(u, -self.start_offset)
        first = down._containing(up._start_ts(lo))
        last = down._containing(up._end_ts(hi) - 1)
        first, last = down._clip(first, last)
        return down._keys(first, last) if first <= last else []

    def problem(self, downstream: PartitionsDefinition, upstream: PartitionsDefinition) -> str | None:
        if not (downstream.is_time_based and upstream.is_time_based):
            return "a time window mapping needs time partitions on both sides"
        return None


def _time_pair(
    downstream: PartitionsDefinition, upstream: PartitionsDefinition
) -> tuple[_TimePartitions, _TimePartitions]:
    if not isinstance(downstream, _TimePartitions) or not isinstance(upstream, _TimePartitions):
        raise DefinitionError(
            f"a time window mapping needs time partitions on both sides, not {downstream.describe()} "
            f"and {upstream.describe()}"
        )
    return downstream, upstream


@dataclass(frozen=True, slots=True)
class AllPartitionMapping(PartitionMapping):
    """Every downstream partition (or an unpartitioned downstream) reads every upstream partition."""

    def upstream_keys(
        self, downstream: PartitionsDefinition, key: str, upstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        return upstream.keys(now=now)

    def downstream_keys(
        self, upstream: PartitionsDefinition, key: str, downstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        return downstream.keys(now=now)


@dataclass(frozen=True, slots=True)
class StaticPartitionMapping(PartitionMapping):
    """Explicit keys: a downstream key -> its upstream key(s), ``StaticPartitionMapping({"all": ["eu", "us"]})``.

    A downstream key the mapping does not name reads no upstream partition.
    """

    downstream_to_upstream: Mapping[str, str | Sequence[str]]
    _ups: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.downstream_to_upstream, Mapping):
            raise DefinitionError(
                "StaticPartitionMapping: expected a dict of downstream key -> upstream key(s), "
                f"got {self.downstream_to_upstream!r}"
            )
        ups: dict[str, tuple[str, ...]] = {}
        for down, up in self.downstream_to_upstream.items():
            values = (up,) if isinstance(up, str) else tuple(up) if isinstance(up, Iterable) else (up,)
            if not isinstance(down, str) or not all(isinstance(v, str) for v in values):
                raise DefinitionError(f"StaticPartitionMapping: keys must be strings, got {down!r}: {up!r}")
            ups[down] = tuple(dict.fromkeys(values))
        object.__setattr__(self, "_ups", ups)

    def __hash__(self) -> int:
        return hash(tuple(self._ups.items()))

    def upstream_keys(
        self, downstream: PartitionsDefinition, key: str, upstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        downstream.check_key(key)
        return [k for k in self._ups.get(key, ()) if upstream.contains(k)]

    def downstream_keys(
        self, upstream: PartitionsDefinition, key: str, downstream: PartitionsDefinition, *, now: datetime | None = None
    ) -> list[str]:
        upstream.check_key(key)
        return [down for down, ups in self._ups.items() if key in ups and downstream.contains(down)]

    def problem(self, downstream: PartitionsDefinition, upstream: PartitionsDefinition) -> str | None:
        bad_down = [k for k in self._ups if not downstream.contains(k)]
        if bad_down:
            return f"StaticPartitionMapping names {_quoted(bad_down)}, not in the downstream {downstream.describe()}"
        bad_up = list(dict.fromkeys(k for ups in self._ups.values() for k in ups if not upstream.contains(k)))
        if bad_up:
            return f"StaticPartitionMapping names {_quoted(bad_up)}, not in the upstream {upstream.describe()}"
        return None


def _quoted(keys: Sequence[str]) -> str:
    return ", ".join(repr(k) for k in keys[:8]) + (f" ... ({len(keys)} keys)" if len(keys) > 8 else "")


def default_mapping(
    downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None
) -> PartitionMapping | None:
    """The mapping used when none is given (None: the upstream is not partitioned); may not fit, see check_mapping."""
    if upstream is None:
        return None
    if downstream is None:
        return AllPartitionMapping()
    if isinstance(downstream, _TimePartitions) and isinstance(upstream, _TimePartitions):
        if downstream.kind == upstream.kind and downstream.timezone == upstream.timezone:
            return IdentityPartitionMapping()
        return TimeWindowPartitionMapping()
    return IdentityPartitionMapping()


def check_mapping(
    downstream: PartitionsDefinition | None,
    upstream: PartitionsDefinition | None,
    mapping: PartitionMapping | None,
    *,
    what: str,
) -> PartitionMapping | None:
    """The mapping to use between two assets' partitions (None: the upstream is not partitioned).

    ``what`` names the edge in errors (``asset 'fct_orders' reading 'stg_orders'``). Raise
    DefinitionError for a mismatch without a sensible default: static and time partitions, two
    static sets where the downstream has keys the upstream lacks, a mapping that does not fit.
    """
    if mapping is not None and not isinstance(mapping, PartitionMapping):
        raise DefinitionError(f"{what}: a partition mapping must be a PartitionMapping, got {mapping!r}")
    if upstream is None:
        if mapping is not None:
            raise DefinitionError(f"{what}: a partition mapping is given, but the upstream is not partitioned")
        return None
    if downstream is None:
        if mapping is None or isinstance(mapping, AllPartitionMapping):
            return AllPartitionMapping()
        raise DefinitionError(
            f"{what}: the downstream is not partitioned, so it reads every upstream partition "
            f"(drop the {type(mapping).__name__} or use AllPartitionMapping)"
        )
    if mapping is None:
        if downstream.is_time_based != upstream.is_time_based:
            raise DefinitionError(
                f"{what}: cannot map {downstream.describe()} to {upstream.describe()} "
                "(pass a StaticPartitionMapping or an AllPartitionMapping)"
            )
        if isinstance(downstream, StaticPartitions) and isinstance(upstream, StaticPartitions):
            missing = [k for k in downstream.partition_keys if not upstream.contains(k)]
            if missing:
                raise DefinitionError(
                    f"{what}: the upstream {upstream.describe()} has no {_quoted(missing)} "
                    f"of the downstream {downstream.describe()} (pass a StaticPartitionMapping)"
                )
        mapping = default_mapping(downstream, upstream)
        assert mapping is not None
        return mapping
    reason = mapping.problem(downstream, upstream)
    if reason is not None:
        raise DefinitionError(f"{what}: {reason}")
    return mapping


def upstream_keys(
    downstream_def: PartitionsDefinition | None,
    key: str | None,
    upstream_def: PartitionsDefinition | None,
    mapping: PartitionMapping | None = None,
    *,
    now: datetime | None = None,
) -> list[str] | None:
    """The upstream keys that downstream partition ``key`` reads; None if the upstream is not partitioned.

    An unpartitioned downstream (``downstream_def`` and ``key`` None) reads every upstream
    partition ended by ``now``. Keys outside the upstream set are left out.
    """
    if upstream_def is None:
        return None
    if downstream_def is None or key is None:
        return upstream_def.keys(now=now)
    chosen = mapping if mapping is not None else default_mapping(downstream_def, upstream_def)
    assert chosen is not None
    return chosen.upstream_keys(downstream_def, key, upstream_def, now=now)


def downstream_keys(
    upstream_def: PartitionsDefinition | None,
    key: str | None,
    downstream_def: PartitionsDefinition | None,
    mapping: PartitionMapping | None = None,
    *,
    now: datetime | None = None,
) -> list[str] | None:
    """The downstream keys that read upstream partition ``key``; None if the downstream is not partitioned.

    An unpartitioned upstream (``upstream_def`` and ``key`` None) is read by every downstream
    partition ended by ``now``. Keys outside the downstream set are left out.
    """
    if downstream_def is None:
        return None
    if upstream_def is None or key is None:
        return downstream_def.keys(now=now)
    chosen = mapping if mapping is not None else default_mapping(downstream_def, upstream_def)
    assert chosen is not None
    return chosen.downstream_keys(upstream_def, key, downstream_def, now=now)


# -- compact status -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyRun:
    """Consecutive partition keys with one state: ``2026-01-01..2026-03-31 materialized (90)``."""

    state: str
    first: str
    last: str
    count: int

    @property
    def span(self) -> str:
        """``first..last``, or the key alone for a single partition."""
        return self.first if self.count == 1 else f"{self.first}..{self.last}"

    def __str__(self) -> str:
        return f"{self.span} {self.state}" + (f" ({self.count})" if self.count > 1 else "")


def runs_of(
    keys: Iterable[str], state_of: Mapping[str, str] | Callable[[str], str], *, default: str = "missing"
) -> list[KeyRun]:
    """Group ``keys`` (in their order) into runs of consecutive keys with the same state.

    ``state_of`` is a function of the key, or a dict (keys it lacks have state ``default``).
    """
    lookup: Callable[[str], str]
    if isinstance(state_of, Mapping):
        table = state_of
        lookup = lambda k: table.get(k, default)  # noqa: E731
    else:
        lookup = state_of
    runs: list[KeyRun] = []
    state: str | None = None
    first = last = ""
    count = 0
    for key in keys:
        current = lookup(key)
        if count and current == state:
            last = key
            count += 1
            continue
        if count:
            runs.append(KeyRun(state or "", first, last, count))
        state, first, last, count = current, key, key, 1
    if count:
        runs.append(KeyRun(state or "", first, last, count))
    return runs
