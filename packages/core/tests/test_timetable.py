"""The timetable: which data interval each scheduled run covers, when it is due, and DST."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from headwater.engine.intervals import manual_interval
from headwater.errors import DefinitionError
from headwater.model.context import DataInterval
from headwater.model.pipeline import Pipeline
from headwater.model.timetable import Interval, Timetable, localize

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall time in ``tz`` (by the fixed-hour DST rule)."""
    return localize(datetime(year, month, day, hour, minute), tz)


def starts(intervals: Sequence[Interval]) -> list[datetime]:
    return [i.start.astimezone(UTC) for i in intervals]


def lengths(intervals: Sequence[Interval]) -> list[timedelta]:
    """Absolute lengths (same-zone subtraction would ignore DST)."""
    return [i.end.astimezone(UTC) - i.start.astimezone(UTC) for i in intervals]


def assert_contiguous(intervals: Sequence[Interval]) -> None:
    for interval in intervals:
        assert interval.end.timestamp() > interval.start.timestamp(), interval
    for a, b in itertools.pairwise(intervals):
        assert a.end.timestamp() == b.start.timestamp(), (a, b)


def test_interval_is_the_context_data_interval() -> None:
    assert Interval is DataInterval


def test_a_run_covers_the_interval_between_two_ticks_and_is_due_at_its_end() -> None:
    timetable = Timetable("0 6 * * *", UTC)
    interval = timetable.next_after(utc(2026, 3, 1))
    assert interval == Interval(utc(2026, 3, 1, 6), utc(2026, 3, 2, 6))
    assert timetable.latest_complete(utc(2026, 3, 2, 6)) == interval  # due exactly at its end
    assert timetable.latest_complete(utc(2026, 3, 2, 5, 59)) == Interval(utc(2026, 2, 28, 6), utc(2026, 3, 1, 6))


def test_datetimes_are_in_the_pipeline_timezone() -> None:
    interval = Timetable("0 6 * * *", BERLIN).next_after(utc(2026, 7, 1))
    assert interval is not None
    assert interval.start.tzinfo is BERLIN and interval.end.tzinfo is BERLIN
    assert (interval.start.hour, interval.start.utcoffset()) == (6, timedelta(hours=2))


def test_naive_arguments_are_local_time() -> None:
    timetable = Timetable("0 * * * *", BERLIN)
    assert timetable.next_after(datetime(2026, 7, 1, 10)) == timetable.next_after(utc(2026, 7, 1, 8))


# -- DST --------------------------------------------------------------------------------------------

# (zone, cron, the day of the change, UTC starts of the intervals starting the day before and that day,
#  their absolute lengths in hours)
DAILY_ACROSS_DST = [
    # Berlin springs forward 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST.
    (BERLIN, "30 2 * * *", date(2026, 3, 29), [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1)], [23.5, 23.5]),
    (BERLIN, "0 6 * * *", date(2026, 3, 29), [utc(2026, 3, 28, 5), utc(2026, 3, 29, 4)], [23, 24]),
    # Berlin falls back 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET: 02:30 happens twice.
    (BERLIN, "30 2 * * *", date(2026, 10, 25), [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30)], [24, 25]),
    (BERLIN, "0 6 * * *", date(2026, 10, 25), [utc(2026, 10, 24, 4), utc(2026, 10, 25, 5)], [25, 24]),
    # New York springs forward 2026-03-08 at 02:00 EST (07:00 UTC) to 03:00 EDT.
    (NEW_YORK, "30 2 * * *", date(2026, 3, 8), [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7)], [23.5, 23.5]),
    (NEW_YORK, "0 6 * * *", date(2026, 3, 8), [utc(2026, 3, 7, 11), utc(2026, 3, 8, 10)], [23, 24]),
    # New York falls back 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00 EST: 01:30 happens twice.
    (NEW_YORK, "30 1 * * *", date(2026, 11, 1), [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30)], [24, 25]),
    (NEW_YORK, "0 6 * * *", date(2026, 11, 1), [utc(2026, 10, 31, 10), utc(2026, 11, 1, 11)], [25, 24]),
]


@pytest.mark.parametrize(("tz", "cron", "day", "expected_starts", "hours"), DAILY_ACROSS_DST)
def test_daily_schedule_across_a_dst_change(
    tz: ZoneInfo, cron: str, day: date, expected_starts: list[datetime], hours: list[float]
) -> None:
    timetable = Timetable(cron, tz)
    before = localize(datetime.combine(day - timedelta(days=1), datetime.min.time()), tz)
    after = localize(datetime.combine(day + timedelta(days=1), datetime.min.time()), tz)
    intervals = timetable.intervals_between(before, after)
    assert starts(intervals) == expected_starts
    assert lengths(intervals) == [timedelta(hours=h) for h in hours]
    assert_contiguous(intervals)
    # exactly one run per local day across the month: none lost, none doubled
    month = timetable.intervals_between(before - timedelta(days=14), after + timedelta(days=14))
    days = [i.start.astimezone(tz).date() for i in month]
    assert len(days) == len(set(days)) == 30
    assert_contiguous(month)


def test_a_fixed_time_inside_the_spring_gap_fires_at_the_first_instant_after_it() -> None:
    interval = Timetable("30 2 * * *", BERLIN).next_after(local(BERLIN, 2026, 3, 29))
    assert interval is not None
    assert interval.start.astimezone(UTC) == utc(2026, 3, 29, 1)  # the instant the clock jumped
    assert (interval.start.hour, interval.start.minute, interval.start.tzname()) == (3, 0, "CEST")


def test_a_fixed_time_repeated_in_the_fall_fires_once_at_its_first_occurrence() -> None:
    timetable = Timetable("30 2 * * *", BERLIN)
    intervals = timetable.intervals_between(local(BERLIN, 2026, 10, 25), local(BERLIN, 2026, 10, 25, 23))
    assert len(intervals) == 1
    assert intervals[0].start.tzname() == "CEST" and intervals[0].start.fold == 0
    # croniter alone fires 02:30 twice that night; we do not
    it = croniter("30 2 * * *", local(BERLIN, 2026, 10, 25))
    assert it.get_next(datetime).utcoffset() != it.get_next(datetime).utcoffset()


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (BERLIN, date(2026, 3, 29), 23),
        (BERLIN, date(2026, 10, 25), 25),
        (NEW_YORK, date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 11, 1), 25),
    ],
)
def test_hourly_schedule_advances_in_absolute_time(tz: ZoneInfo, day: date, hours: int) -> None:
    midnight = localize(datetime.combine(day, datetime.min.time()), tz)
    next_midnight = localize(datetime.combine(day + timedelta(days=1), datetime.min.time()), tz)
    timetable = Timetable("0 * * * *", tz)
    intervals = timetable.intervals_between(midnight, next_midnight - timedelta(seconds=1))
    assert len(intervals) == hours  # every real hour of the local day, once
    assert intervals[0].start.timestamp() == midnight.timestamp()
    assert intervals[-1].end.timestamp() == next_midnight.timestamp()
    assert lengths(intervals) == [HOUR] * hours
    assert starts(intervals) == [midnight.astimezone(UTC) + n * HOUR for n in range(hours)]
    assert_contiguous(intervals)
    quarter = Timetable("*/15 * * * *", tz).intervals_between(midnight, next_midnight - timedelta(seconds=1))
    assert len(quarter) == 4 * hours
    assert lengths(quarter) == [HOUR / 4] * (4 * hours)


def test_the_repeated_hour_runs_twice_with_distinct_instants() -> None:
    intervals = Timetable("0 * * * *", BERLIN).intervals_between(
        utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)
    )  # 02:00 CEST, then 02:00 CET
    assert [(i.start.hour, i.start.tzname()) for i in intervals] == [(2, "CEST"), (2, "CET")]
    assert starts(intervals) == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)]


def test_a_stepped_hour_field_is_wall_clock() -> None:
    """``0 */2 * * *`` names fixed hours: the gap's 02:00 fires at 03:00, the repeated 02:00 once."""
    timetable = Timetable("0 */2 * * *", BERLIN)
    spring = timetable.intervals_between(local(BERLIN, 2026, 3, 29), local(BERLIN, 2026, 3, 29, 4))
    assert starts(spring) == [utc(2026, 3, 28, 23), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]
    assert lengths(spring) == [2 * HOUR, HOUR, 2 * HOUR]
    fall = timetable.intervals_between(local(BERLIN, 2026, 10, 25), local(BERLIN, 2026, 10, 25, 4))
    assert starts(fall) == [utc(2026, 10, 24, 22), utc(2026, 10, 25, 0), utc(2026, 10, 25, 3)]
    assert lengths(fall) == [2 * HOUR, 3 * HOUR, 2 * HOUR]


@pytest.mark.parametrize("cron", ["0 2,3 * * *", "0,30 2 * * *", "* 2 * * *"])
def test_ticks_landing_on_the_same_instant_fire_once(cron: str) -> None:
    intervals = Timetable(cron, BERLIN).intervals_between(local(BERLIN, 2026, 3, 29), local(BERLIN, 2026, 3, 29, 12))
    assert utc(2026, 3, 29, 1) in starts(intervals)
    assert len(set(starts(intervals))) == len(intervals)
    assert_contiguous(intervals)


def test_croniter_only_expressions_follow_the_same_dst_rule() -> None:
    """``#`` goes through croniter; 2026-03-29 is March's 5th Sunday, and 02:30 does not exist in Berlin."""
    intervals = Timetable("30 2 * * 0#5", BERLIN).intervals_between(
        local(BERLIN, 2026, 1, 1), local(BERLIN, 2026, 12, 31)
    )
    assert utc(2026, 3, 29, 1) in starts(intervals)
    assert_contiguous(intervals)
    last_days = Timetable("0 0 L * *", UTC).intervals_between(utc(2026, 1, 1), utc(2026, 12, 31))
    assert [i.start.day for i in last_days] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


SYDNEY, KOLKATA = ZoneInfo("Australia/Sydney"), ZoneInfo("Asia/Kolkata")
WALL_TIMES = {"30 2 * * *": {(2, 30)}, "0 0 * * 1": {(0, 0)}, "15 1,2,3 * * *": {(1, 15), (2, 15), (3, 15)}}


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, SYDNEY, KOLKATA, UTC])
@pytest.mark.parametrize("cron", ["0 * * * *", "*/20 * * * *", *WALL_TIMES])
def test_a_year_of_intervals_is_contiguous_with_one_run_per_tick(tz: ZoneInfo, cron: str) -> None:
    timetable = Timetable(cron, tz)
    intervals = timetable.intervals_between(local(tz, 2026, 1, 1), local(tz, 2026, 12, 31, 23, 59))
    assert_contiguous(intervals)
    assert all(i.start.tzinfo is tz for i in intervals)
    if cron in WALL_TIMES:  # wall clock: the cron's local times, but for the one in the spring gap
        moved = [i.start for i in intervals if (i.start.hour, i.start.minute) not in WALL_TIMES[cron]]
        has_gap = tz in (BERLIN, NEW_YORK, SYDNEY) and cron != "0 0 * * 1"
        assert [(m.hour, m.minute) for m in moved] == ([(3, 0)] if has_gap else [])
    else:  # absolute time: every interval has the schedule's period
        assert set(lengths(intervals)) == {timedelta(minutes=60 if cron.startswith("0") else 20)}
        assert len(intervals) == 365 * 24 * (1 if cron.startswith("0") else 3)


def test_midnight_inside_the_gap_and_a_skipped_day() -> None:
    santiago = ZoneInfo("America/Santiago")  # 2026-09-06 00:00 does not exist: clocks go to 01:00
    daily = Timetable("0 0 * * *", santiago)
    intervals = daily.intervals_between(local(santiago, 2026, 9, 5), local(santiago, 2026, 9, 7))
    assert [(i.start.day, i.start.hour) for i in intervals] == [(5, 0), (6, 1), (7, 0)]
    assert lengths(intervals) == [24 * HOUR, 23 * HOUR, 24 * HOUR]
    apia = ZoneInfo("Pacific/Apia")  # skipped 2011-12-30 entirely
    hourly = Timetable("0 * * * *", apia).intervals_between(local(apia, 2011, 12, 29, 22), local(apia, 2011, 12, 31, 1))
    assert lengths(hourly) == [HOUR] * 4
    assert [i.start.day for i in hourly] == [29, 29, 31, 31]


def test_localize_follows_the_fixed_hour_rule_and_honours_fold() -> None:
    assert localize(datetime(2026, 3, 29, 2, 30), BERLIN).astimezone(UTC) == utc(2026, 3, 29, 1)
    assert localize(datetime(2026, 10, 25, 2, 30), BERLIN).astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    second = localize(datetime(2026, 10, 25, 2, 30, fold=1), BERLIN)
    assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 30) and second.fold == 1
    assert localize(datetime(2026, 7, 1, 12, 0, 0, 5), BERLIN).microsecond == 5


PLAIN_EXPRESSIONS = [
    "0 6 * * *",
    "*/7 * * * *",
    "5 4 * * sun",
    "0 0 1,15 * *",
    "0 0 1 * 1",  # day-of-month OR day-of-week
    "0 0 13 * 5",
    "0 12 * jan-mar mon-fri",
    "0 0 */2 * *",
    "0 0 29 2 *",
    "0 0 31 * *",
    "0 9-17/2 * * 1-5",
    "*/30 * * * * 15",  # seconds
    "0 0 1-31 * 1",
]


@pytest.mark.parametrize("cron", PLAIN_EXPRESSIONS)
def test_the_fast_path_agrees_with_croniter(cron: str) -> None:
    start = utc(2026, 1, 1)
    ours = list(itertools.islice(Timetable(cron, UTC).ticks(start), 100))
    it = croniter(cron, start - timedelta(seconds=1))
    theirs = [it.get_next(datetime) for _ in range(100)]
    assert ours == theirs


def test_three_years_of_hourly_intervals_in_one_pass() -> None:
    timetable = Timetable("0 * * * *", BERLIN)
    intervals = timetable.intervals_between(local(BERLIN, 2024, 1, 1), local(BERLIN, 2026, 12, 31, 23))
    assert len(intervals) == (366 + 365 + 365) * 24
    assert_contiguous(intervals)


# -- start and end dates, catchup -------------------------------------------------------------------


def daily(**kwargs: object) -> Timetable:
    timetable = Timetable.for_pipeline(Pipeline("daily", schedule="0 6 * * *", **kwargs))  # type: ignore[arg-type]
    assert timetable is not None
    return timetable


def test_the_first_interval_starts_at_the_first_tick_at_or_after_start_date() -> None:
    assert daily(start_date="2026-01-01").next_after(utc(2020, 1, 1)) == Interval(
        utc(2026, 1, 1, 6), utc(2026, 1, 2, 6)
    )
    on_tick = daily(start_date="2026-01-01T06:00")
    assert on_tick.next_after(utc(2020, 1, 1)) == Interval(utc(2026, 1, 1, 6), utc(2026, 1, 2, 6))
    assert daily(start_date="2026-01-01T06:01").next_after(utc(2020, 1, 1)) == Interval(
        utc(2026, 1, 2, 6), utc(2026, 1, 3, 6)
    )


def test_no_interval_starts_after_end_date() -> None:
    timetable = daily(start_date="2026-01-01", end_date="2026-01-10")
    last = timetable.latest_complete(utc(2030, 1, 1))
    assert last == Interval(utc(2026, 1, 9, 6), utc(2026, 1, 10, 6))  # 01-10 06:00 is after end_date
    assert timetable.next_after(utc(2026, 1, 9, 7)) is None
    assert len(timetable.due(utc(2030, 1, 1), None, catchup=True)) == 9
    midnight = Timetable.for_pipeline(Pipeline("m", schedule="@daily", start_date="2026-01-01", end_date="2026-01-10"))
    assert midnight is not None
    assert midnight.latest_complete(utc(2030, 1, 1)) == Interval(utc(2026, 1, 10), utc(2026, 1, 11))


def test_catchup_makes_every_missed_interval_due_oldest_first() -> None:
    timetable = daily(start_date="2026-01-01")
    now = utc(2026, 1, 5, 7)
    assert starts(timetable.due(now, None, catchup=True)) == [utc(2026, 1, d, 6) for d in (1, 2, 3, 4)]
    assert starts(timetable.due(now, None, catchup=True, limit=2)) == [utc(2026, 1, 1, 6), utc(2026, 1, 2, 6)]
    assert starts(timetable.due(now, utc(2026, 1, 3, 6), catchup=True)) == [utc(2026, 1, 3, 6), utc(2026, 1, 4, 6)]
    assert timetable.due(now, utc(2026, 1, 5, 6), catchup=True) == []


def test_without_catchup_only_the_latest_complete_interval_is_due() -> None:
    timetable = daily(start_date="2026-01-01")
    now = utc(2026, 1, 5, 7)
    latest = [Interval(utc(2026, 1, 4, 6), utc(2026, 1, 5, 6))]
    assert timetable.due(now, None, catchup=False) == latest
    assert timetable.due(now, utc(2026, 1, 2, 6), catchup=False) == latest
    assert timetable.due(now, utc(2026, 1, 5, 6), catchup=False) == []


def test_nothing_is_due_before_the_start_date() -> None:
    timetable = daily(start_date="2026-06-01")
    for catchup in (True, False):
        assert timetable.due(utc(2026, 5, 20), None, catchup=catchup) == []
    assert timetable.due(utc(2026, 6, 2, 6), None, catchup=False) == [Interval(utc(2026, 6, 1, 6), utc(2026, 6, 2, 6))]


def test_without_a_start_date_catchup_has_nothing_to_catch_up() -> None:
    timetable = daily()
    assert timetable.due(utc(2026, 1, 5, 7), None, catchup=True) == [Interval(utc(2026, 1, 4, 6), utc(2026, 1, 5, 6))]


@pytest.mark.parametrize("catchup", [True, False])
@pytest.mark.parametrize("first_day", [date(2026, 3, 27), date(2026, 10, 23)])
def test_a_scheduler_waking_at_odd_times_creates_each_interval_at_most_once(catchup: bool, first_day: date) -> None:
    """Walk through a Berlin DST change with a cursor, as the scheduler does."""
    start = localize(datetime.combine(first_day, datetime.min.time()), BERLIN)
    timetable = Timetable("0 * * * *", BERLIN, start_date=start)
    now, cursor = start.astimezone(UTC) - HOUR, None
    created: list[Interval] = []
    steps = itertools.cycle([timedelta(minutes=m) for m in (7, 61, 200, 30, 59, 1, 600)])
    while now < start + timedelta(days=5):
        due = timetable.due(now, cursor, catchup=catchup, limit=10)
        assert all(i.end.timestamp() <= now.timestamp() for i in due)
        created += due
        if due:
            cursor = due[-1].end
        wake = timetable.next_due_time(now, cursor)
        assert wake is not None and wake.timestamp() > now.timestamp()
        if len(due) < 10:  # else more are due at once: the next pass continues
            now += next(steps)  # sometimes past `wake`: a busy or stopped scheduler
    assert len({i.start.timestamp() for i in created}) == len(created)
    assert created == sorted(created, key=lambda i: i.start.timestamp())
    every = timetable.intervals_between(start, created[-1].start)
    assert len(every) >= 4 * 24
    if catchup:
        assert created == every
    else:  # a late wake-up skips to the latest interval
        assert {i.start.timestamp() for i in created} <= {i.start.timestamp() for i in every}
        assert len(created) < len(every)


def test_next_due_time() -> None:
    timetable = daily(start_date="2026-01-01", end_date="2026-01-10")
    assert timetable.next_due_time(utc(2025, 6, 1), None) == utc(2026, 1, 2, 6)
    assert timetable.next_due_time(utc(2026, 1, 5, 7), utc(2026, 1, 5, 6)) == utc(2026, 1, 6, 6)
    assert timetable.next_due_time(utc(2026, 1, 5, 7), utc(2026, 1, 8, 6)) == utc(2026, 1, 9, 6)
    assert timetable.next_due_time(utc(2026, 1, 10, 7), utc(2026, 1, 10, 6)) is None


def test_preview_lists_the_next_runs_the_first_possibly_in_progress() -> None:
    timetable = daily()
    assert starts(timetable.preview(utc(2026, 1, 5, 7), 3)) == [utc(2026, 1, d, 6) for d in (5, 6, 7)]
    assert starts(timetable.preview(utc(2026, 1, 5, 6), 1)) == [utc(2026, 1, 5, 6)]  # 01-04's is due now
    future = daily(start_date="2027-01-01")
    assert starts(future.preview(utc(2026, 1, 5), 2)) == [utc(2027, 1, 1, 6), utc(2027, 1, 2, 6)]
    assert daily(start_date="2026-01-01", end_date="2026-01-03").preview(utc(2026, 2, 1)) == []


def test_interval_containing_start() -> None:
    timetable = Timetable("0 6 * * *", UTC)
    assert timetable.interval_containing_start(utc(2026, 3, 1, 6)) == Interval(utc(2026, 3, 1, 6), utc(2026, 3, 2, 6))
    assert timetable.interval_containing_start(utc(2026, 3, 1, 12)) == Interval(utc(2026, 3, 1, 6), utc(2026, 3, 2, 6))
    assert timetable.interval_containing_start(utc(2026, 3, 1)) == Interval(utc(2026, 2, 28, 6), utc(2026, 3, 1, 6))
    hourly = Timetable("0 * * * *", BERLIN)
    second_half_past_two = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)  # CET
    assert starts([hourly.interval_containing_start(second_half_past_two)]) == [utc(2026, 10, 25, 1)]


# -- manual runs ----------------------------------------------------------------------------------------


def test_manual_interval_uses_the_timetable() -> None:
    pipeline = Pipeline("m", schedule="0 6 * * *", timezone="Europe/Berlin", start_date="2030-01-01")
    now = utc(2026, 3, 5, 12).timestamp()
    assert manual_interval(pipeline, None, now) == Interval(local(BERLIN, 2026, 3, 4, 6), local(BERLIN, 2026, 3, 5, 6))
    on_tick = manual_interval(pipeline, datetime(2026, 3, 1, 6), now)  # a bare --date is local time
    assert on_tick == Interval(local(BERLIN, 2026, 3, 1, 6), local(BERLIN, 2026, 3, 2, 6))
    between = manual_interval(pipeline, datetime(2026, 3, 1, 12), now)
    assert between == on_tick
    across_dst = manual_interval(pipeline, utc(2026, 3, 29, 1), now)  # 03:00 CEST, before that day's 06:00
    assert starts([across_dst]) == [utc(2026, 3, 28, 5)] and lengths([across_dst]) == [23 * HOUR]


def test_manual_interval_of_a_pipeline_without_schedule_is_empty() -> None:
    pipeline = Pipeline("m")
    interval = manual_interval(pipeline, None, utc(2026, 3, 5, 12).timestamp())
    assert interval == Interval(utc(2026, 3, 5, 12), utc(2026, 3, 5, 12))
    assert Timetable.for_pipeline(pipeline) is None


# -- bad definitions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_schedule_that_never_fires_is_a_definition_error(cron: str) -> None:
    with pytest.raises(DefinitionError, match="never fires") as info:
        Pipeline("never", schedule=cron)
    assert info.value.pipeline == "never"
    assert str(info.value).startswith("pipeline 'never': schedule:")


def test_a_rare_schedule_is_accepted() -> None:
    pipeline = Pipeline("leap", schedule="0 0 29 2 *", start_date="2097-03-01")  # 2100 is not a leap year
    timetable = Timetable.for_pipeline(pipeline)
    assert timetable is not None
    assert timetable.next_after(utc(2000, 1, 1)) == Interval(utc(2104, 2, 29), utc(2108, 2, 29))


def test_end_date_before_start_date_names_both() -> None:
    with pytest.raises(DefinitionError) as info:
        Pipeline("dates", schedule="@daily", start_date="2026-02-01", end_date="2026-01-01")
    assert info.value.pipeline == "dates"
    assert "end_date 2026-01-01T00:00:00+00:00 is before start_date 2026-02-01T00:00:00+00:00" in str(info.value)


def test_a_schedule_first_firing_after_end_date_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="first fires at 2026-01-01T06:00:00\\+00:00") as info:
        Pipeline("late", schedule="0 6 * * *", start_date="2026-01-01", end_date="2026-01-01T05:00")
    assert info.value.pipeline == "late"
    assert "never run" in str(info.value)
    Pipeline("on_time", schedule="0 6 * * *", start_date="2026-01-01", end_date="2026-01-01T06:00")


def test_a_start_date_inside_the_spring_gap_means_the_first_instant_after_it() -> None:
    pipeline = Pipeline("gap", schedule="@hourly", timezone="Europe/Berlin", start_date="2026-03-29T02:30")
    assert pipeline.start_date is not None
    assert pipeline.start_date.astimezone(UTC) == utc(2026, 3, 29, 1)
