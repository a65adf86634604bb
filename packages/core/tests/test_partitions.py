"""Partition sets (time and static), their keys and windows, mappings between assets, and the compact status."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import headwater
from headwater.errors import DefinitionError
from headwater.model.partitions import (
    AllPartitionMapping,
    DailyPartitions,
    HourlyPartitions,
    IdentityPartitionMapping,
    KeyRun,
    MonthlyPartitions,
    PartitionsDefinition,
    PartitionWindow,
    StaticPartitionMapping,
    StaticPartitions,
    TimeWindowPartitionMapping,
    WeeklyPartitions,
    check_mapping,
    downstream_keys,
    runs_of,
    upstream_keys,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(window: PartitionWindow) -> float:
    """The real length of a window (same-zone datetime subtraction would use wall time)."""
    return (window.end.timestamp() - window.start.timestamp()) / 3600


# -- keys and windows --------------------------------------------------------------------------------


def test_daily_keys_are_the_partitions_ended_by_now() -> None:
    daily = DailyPartitions(start="2026-01-01")
    assert daily.keys(now=utc(2026, 1, 4, 10)) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert daily.keys(now=utc(2026, 1, 4)) == ["2026-01-01", "2026-01-02", "2026-01-03"]  # 01-03 ends exactly now
    assert daily.keys(now=utc(2026, 1, 1, 23, 59)) == []  # the first day has not ended
    assert daily.keys(now=utc(2025, 6, 1)) == []


def test_keys_are_bounded_by_end_which_is_the_last_partition() -> None:
    daily = DailyPartitions(start="2026-01-01", end="2026-01-03")
    assert daily.keys(now=utc(2030, 1, 1)) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert daily.last_key == "2026-01-03"
    assert daily.describe() == "daily partitions from 2026-01-01 to 2026-01-03 (UTC)"
    assert not daily.contains("2026-01-04")


def test_ten_years_of_daily_keys() -> None:
    keys = DailyPartitions(start="2016-01-01", timezone="Europe/Berlin").keys(now=utc(2026, 1, 1))
    assert len(keys) == 3653
    assert keys[0] == "2016-01-01"
    assert keys[-1] == "2025-12-31"
    assert keys == sorted(keys)


def test_a_daily_window_is_the_local_day() -> None:
    daily = DailyPartitions(start="2026-01-01", timezone="Europe/Berlin")
    window = daily.window("2026-03-01")
    assert window == PartitionWindow(datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 3, 2, tzinfo=BERLIN))
    assert window.start.tzinfo is BERLIN
    assert window.start == utc(2026, 2, 28, 23)


def test_daily_windows_follow_dst_in_berlin() -> None:
    daily = DailyPartitions(start="2026-01-01", timezone="Europe/Berlin")
    assert hours(daily.window("2026-03-29")) == 23  # spring forward
    assert hours(daily.window("2026-10-25")) == 25  # fall back
    assert hours(daily.window("2026-03-30")) == 24
    # the Berlin day 2026-03-29 has ended at 22:00 UTC
    assert daily.keys(now=utc(2026, 3, 29, 22))[-1] == "2026-03-29"
    assert daily.keys(now=utc(2026, 3, 29, 21, 59))[-1] == "2026-03-28"


def test_hourly_keys_skip_the_missing_hour_and_keep_both_repeated_hours() -> None:
    hourly = HourlyPartitions(start="2026-03-29", timezone="Europe/Berlin")
    spring = hourly.keys(now=datetime(2026, 3, 29, 4, tzinfo=BERLIN))
    assert spring == ["2026-03-29T00:00", "2026-03-29T01:00", "2026-03-29T03:00"]
    with pytest.raises(DefinitionError, match="2026-03-29T02:00 does not exist in Europe/Berlin"):
        hourly.check_key("2026-03-29T02:00")

    autumn = [k for k in hourly.keys(now=utc(2026, 10, 25, 2)) if k.startswith("2026-10-25")]
    assert autumn == ["2026-10-25T00:00", "2026-10-25T01:00", "2026-10-25T02:00", "2026-10-25T02:00+01:00"]
    first, second = hourly.window("2026-10-25T02:00"), hourly.window("2026-10-25T02:00+01:00")
    assert hours(first) == hours(second) == 1
    # compare as instants: Python never finds a repeated local time equal to an instant of another zone
    assert first.end.timestamp() == second.start.timestamp() == utc(2026, 10, 25, 1).timestamp()
    assert hourly.key_for(utc(2026, 10, 25, 1, 30)) == "2026-10-25T02:00+01:00"
    assert hourly.key_for(utc(2026, 10, 25, 0, 30)) == "2026-10-25T02:00"


def test_a_year_of_hourly_keys() -> None:
    keys = HourlyPartitions(start="2025-01-01").keys(now=utc(2026, 1, 1))
    assert len(keys) == 8760
    assert keys[0] == "2025-01-01T00:00"
    assert keys[-1] == "2025-12-31T23:00"
    berlin = HourlyPartitions(start="2025-01-01", timezone="Europe/Berlin").keys(now=utc(2026, 1, 1))
    assert len(berlin) == 8761  # one hour of 2026-01-01 Berlin time has ended by midnight UTC
    assert len(set(berlin)) == len(berlin)


def test_hourly_start_mid_hour_begins_at_the_next_hour() -> None:
    hourly = HourlyPartitions(start="2026-03-01T13:30")
    assert hourly.first_key == "2026-03-01T14:00"
    assert hourly.window("2026-03-01T14:00") == PartitionWindow(utc(2026, 3, 1, 14), utc(2026, 3, 1, 15))


def test_weekly_partitions_start_on_monday() -> None:
    weekly = WeeklyPartitions(start="2026-01-01")  # a Thursday: the first week starts the next Monday
    assert weekly.first_key == "2026-01-05"
    assert weekly.keys(now=utc(2026, 1, 26)) == ["2026-01-05", "2026-01-12", "2026-01-19"]
    assert weekly.window("2026-01-05") == PartitionWindow(utc(2026, 1, 5), utc(2026, 1, 12))
    with pytest.raises(DefinitionError) as info:
        weekly.check_key("2026-03-01")
    assert str(info.value) == (
        "partition '2026-03-01' is not in weekly partitions from 2026-01-05 (UTC): 2026-03-01 is a Sunday; "
        "weekly partitions start on Monday (2026-02-23 or 2026-03-02)"
    )


def test_monthly_partitions() -> None:
    monthly = MonthlyPartitions(start="2026-01-15", end="2026-12-31", timezone="Europe/Berlin")
    assert monthly.first_key == "2026-02"  # the first month starting at or after start
    assert monthly.keys(now=utc(2027, 6, 1)) == [f"2026-{m:02d}" for m in range(2, 13)]
    assert monthly.window("2026-03") == PartitionWindow(
        datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 4, 1, tzinfo=BERLIN)
    )
    assert monthly.keys(now=datetime(2026, 4, 1, tzinfo=BERLIN)) == ["2026-02", "2026-03"]
    with pytest.raises(DefinitionError, match="expected a month like 2026-03"):
        monthly.check_key("2026-3")


def test_check_key_names_the_set_and_the_expected_format() -> None:
    daily = DailyPartitions(start="2026-01-01")
    assert daily.check_key("2026-03-01") == "2026-03-01"
    with pytest.raises(DefinitionError) as info:
        daily.check_key("2026-13-01")
    assert str(info.value) == (
        "partition '2026-13-01' is not in daily partitions from 2026-01-01 (UTC): expected a date like 2026-03-01"
    )
    with pytest.raises(DefinitionError, match="it is before the first partition 2026-01-01"):
        daily.check_key("2025-12-31")
    with pytest.raises(DefinitionError, match="it is after the last partition 2026-01-31"):
        DailyPartitions(start="2026-01-01", end="2026-01-31").check_key("2026-02-01")
    with pytest.raises(DefinitionError, match="expected an hour like 2026-03-01T13:00"):
        HourlyPartitions(start="2026-01-01").check_key("2026-03-01")
    for bad in ("20260301", "2026-03-01T00:00", " 2026-03-01", ""):
        assert not daily.contains(bad)
    assert daily.contains("2030-01-01")  # a future partition belongs to the set


def test_keys_between_is_inclusive_and_checks_both_ends() -> None:
    daily = DailyPartitions(start="2026-01-01")
    assert daily.keys_between("2026-02-27", "2026-03-02") == ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    assert daily.keys_between("2026-03-01", "2026-03-01") == ["2026-03-01"]
    with pytest.raises(DefinitionError, match="2026-03-02 is after 2026-03-01"):
        daily.keys_between("2026-03-02", "2026-03-01")
    with pytest.raises(DefinitionError, match="before the first partition"):
        daily.keys_between("2025-12-01", "2026-03-01")
    hourly = HourlyPartitions(start="2026-10-25", timezone="Europe/Berlin")
    assert hourly.keys_between("2026-10-25T01:00", "2026-10-25T03:00") == [
        "2026-10-25T01:00",
        "2026-10-25T02:00",
        "2026-10-25T02:00+01:00",
        "2026-10-25T03:00",
    ]


def test_key_for_a_moment() -> None:
    daily = DailyPartitions(start="2026-01-01", timezone="Europe/Berlin")
    assert daily.key_for(utc(2026, 3, 1, 23, 30)) == "2026-03-02"  # already March 2nd in Berlin
    assert daily.key_for(datetime(2026, 3, 1, 23, 30)) == "2026-03-01"  # naive: local time
    assert daily.key_for(utc(2025, 12, 31, 12)) is None
    assert DailyPartitions(start="2026-01-01", end="2026-01-31").key_for(utc(2026, 2, 1)) is None
    assert StaticPartitions(["eu"]).key_for(utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DailyPartitions(start="2026-02-30"), "daily partitions start: cannot read '2026-02-30' as a date"),
        (lambda: DailyPartitions(start="2026-03-01", end="2026-02-01"), "end 2026-02-01 is before the first partition"),
        (lambda: MonthlyPartitions(start="2026-01-15", end="2026-01-20"), "end 2026-01-20 is before the first"),
        (lambda: DailyPartitions(start="2026-01-01", timezone="Mars/Olympus"), "unknown timezone 'Mars/Olympus'"),
        (lambda: HourlyPartitions(start=None), "start is required"),  # type: ignore[arg-type]
        (lambda: StaticPartitions([]), "the list of keys is empty"),
        (lambda: StaticPartitions(["eu", "us", "eu"]), "key 'eu' appears twice"),
        (lambda: StaticPartitions(["eu/west"]), "bad key 'eu/west'"),
        (lambda: StaticPartitions(["eu", ""]), "a key must be a non-empty string"),
        (lambda: StaticPartitions(["eu", 3]), "a key must be a non-empty string, got 3"),  # type: ignore[list-item]
        (lambda: StaticPartitions("eu"), "expected a list of keys"),
    ],
)
def test_bad_definitions_are_definition_errors(make: object, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        make()  # type: ignore[operator]


def test_static_partitions_keep_their_order() -> None:
    regions = StaticPartitions(["us", "eu", "apac"])
    assert regions.keys() == ["us", "eu", "apac"]
    assert regions.keys_between("eu", "apac") == ["eu", "apac"]
    assert regions.window("eu") is None
    assert not regions.is_time_based
    assert regions.describe() == "static partitions [us, eu, apac]"
    with pytest.raises(DefinitionError) as info:
        regions.check_key("mars")
    assert (
        str(info.value) == "partition 'mars' is not in static partitions [us, eu, apac]: expected one of us, eu, apac"
    )
    with pytest.raises(DefinitionError, match="apac comes after eu"):
        regions.keys_between("apac", "eu")


def test_definitions_are_frozen_values() -> None:
    assert DailyPartitions(start="2026-01-01") == DailyPartitions(start=date(2026, 1, 1))
    weekly: PartitionsDefinition = WeeklyPartitions(start="2026-01-01")
    assert DailyPartitions(start="2026-01-01") != weekly
    assert DailyPartitions(start="2026-01-01") != DailyPartitions(start="2026-01-01", timezone="Europe/Berlin")
    assert len({StaticPartitions(["a", "b"]), StaticPartitions(("a", "b"))}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        DailyPartitions(start="2026-01-01").timezone = "Europe/Berlin"  # type: ignore[misc]
    assert isinstance(DailyPartitions(start="2026-01-01"), PartitionsDefinition)


def test_exported_from_headwater() -> None:
    assert headwater.DailyPartitions is DailyPartitions
    assert headwater.StaticPartitionMapping is StaticPartitionMapping
    assert headwater.PartitionWindow is PartitionWindow


# -- mappings -----------------------------------------------------------------------------------------

DAILY = DailyPartitions(start="2026-01-01")
MONTHLY = MonthlyPartitions(start="2026-01-01")


def test_same_partitions_map_by_identity() -> None:
    assert isinstance(check_mapping(DAILY, DAILY, None, what="x"), IdentityPartitionMapping)
    assert upstream_keys(DAILY, "2026-03-01", DAILY) == ["2026-03-01"]
    assert downstream_keys(DAILY, "2026-03-01", DAILY) == ["2026-03-01"]
    later = DailyPartitions(start="2026-02-01")
    assert upstream_keys(DAILY, "2026-01-15", later) == []  # not in the upstream set


def test_a_monthly_asset_reads_every_day_of_its_month() -> None:
    days = upstream_keys(MONTHLY, "2026-02", DAILY)
    assert days == [f"2026-02-{d:02d}" for d in range(1, 29)]
    assert downstream_keys(DAILY, "2026-02-14", MONTHLY) == ["2026-02"]
    assert upstream_keys(DAILY, "2026-02-14", MONTHLY) == ["2026-02"]  # a daily asset reads its month
    assert downstream_keys(MONTHLY, "2026-02", DAILY) == days


def test_a_daily_asset_can_read_the_previous_day() -> None:
    previous = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
    assert upstream_keys(DAILY, "2026-03-01", DAILY, previous) == ["2026-02-28"]
    assert upstream_keys(DAILY, "2026-01-01", DAILY, previous) == []  # before the upstream's first day
    assert downstream_keys(DAILY, "2026-02-28", DAILY, previous) == ["2026-03-01"]
    both = TimeWindowPartitionMapping(start_offset=-1)
    assert upstream_keys(DAILY, "2026-03-01", DAILY, both) == ["2026-02-28", "2026-03-01"]
    assert downstream_keys(DAILY, "2026-02-28", DAILY, both) == ["2026-02-28", "2026-03-01"]


def test_hourly_to_daily_across_timezones_maps_by_window_overlap() -> None:
    berlin_daily = DailyPartitions(start="2026-01-01", timezone="Europe/Berlin")
    hourly = HourlyPartitions(start="2026-01-01")
    ups = upstream_keys(berlin_daily, "2026-03-29", hourly)  # 23 hours: 2026-03-28T23:00 to 2026-03-29T21:00 UTC
    assert ups is not None and len(ups) == 23
    assert (ups[0], ups[-1]) == ("2026-03-28T23:00", "2026-03-29T21:00")
    assert downstream_keys(hourly, "2026-03-28T23:00", berlin_daily) == ["2026-03-29"]
    assert upstream_keys(berlin_daily, "2026-03-02", DAILY) == ["2026-03-01", "2026-03-02"]


@pytest.mark.parametrize(
    ("down", "up", "mapping"),
    [
        (DAILY, DAILY, TimeWindowPartitionMapping(start_offset=-2, end_offset=1)),
        (MONTHLY, DAILY, TimeWindowPartitionMapping(start_offset=-1)),
        (DAILY, MONTHLY, TimeWindowPartitionMapping(end_offset=1)),
        (DailyPartitions(start="2026-01-01", timezone="Europe/Berlin"), HourlyPartitions(start="2026-03-25"), None),
        (WeeklyPartitions(start="2026-01-01"), DailyPartitions(start="2026-01-01", timezone="Asia/Tokyo"), None),
    ],
)
def test_downstream_keys_invert_upstream_keys(
    down: PartitionsDefinition, up: PartitionsDefinition, mapping: TimeWindowPartitionMapping | None
) -> None:
    now = utc(2026, 4, 30)
    reads = {d: set(upstream_keys(down, d, up, mapping) or []) for d in down.keys(now=now)}
    for u in up.keys_between(up.keys(now=now)[0], up.keys(now=now)[-1])[:400]:
        readers = downstream_keys(up, u, down, mapping) or []
        expected = [d for d, ups in reads.items() if u in ups]
        assert [d for d in readers if d in reads] == expected, u


def test_unpartitioned_assets() -> None:
    now = utc(2026, 1, 4)
    assert upstream_keys(DAILY, "2026-01-02", None) is None  # an unpartitioned upstream: read it whole
    assert upstream_keys(None, None, DAILY, now=now) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert downstream_keys(DAILY, "2026-01-02", None) is None
    assert downstream_keys(None, None, DAILY, now=now) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert isinstance(check_mapping(None, DAILY, None, what="x"), AllPartitionMapping)
    assert check_mapping(DAILY, None, None, what="x") is None


def test_all_partition_mapping() -> None:
    regions = StaticPartitions(["eu", "us"])
    assert check_mapping(regions, DAILY, AllPartitionMapping(), what="x") == AllPartitionMapping()
    assert upstream_keys(regions, "eu", DAILY, AllPartitionMapping(), now=utc(2026, 1, 3)) == [
        "2026-01-01",
        "2026-01-02",
    ]
    assert downstream_keys(DAILY, "2026-01-01", regions, AllPartitionMapping()) == ["eu", "us"]


def test_static_partition_mapping() -> None:
    countries = StaticPartitions(["de", "fr", "us"])
    regions = StaticPartitions(["eu", "na"])
    mapping = StaticPartitionMapping({"eu": ["de", "fr"], "na": "us"})
    assert check_mapping(regions, countries, mapping, what="x") is mapping
    assert upstream_keys(regions, "eu", countries, mapping) == ["de", "fr"]
    assert upstream_keys(regions, "na", countries, mapping) == ["us"]
    assert downstream_keys(countries, "fr", regions, mapping) == ["eu"]
    assert mapping == StaticPartitionMapping({"eu": ["de", "fr"], "na": "us"})
    assert hash(mapping) == hash(StaticPartitionMapping({"eu": ["de", "fr"], "na": "us"}))
    with pytest.raises(DefinitionError, match="names 'asia', not in the downstream static partitions"):
        check_mapping(regions, countries, StaticPartitionMapping({"asia": ["jp"]}), what="x")
    with pytest.raises(DefinitionError, match="names 'jp', not in the upstream static partitions"):
        check_mapping(regions, countries, StaticPartitionMapping({"eu": ["de", "jp"]}), what="x")


def test_static_subset_maps_by_identity() -> None:
    some = StaticPartitions(["eu"])
    more = StaticPartitions(["eu", "us"])
    assert isinstance(check_mapping(some, more, None, what="x"), IdentityPartitionMapping)
    assert upstream_keys(some, "eu", more) == ["eu"]


@pytest.mark.parametrize(
    ("down", "up", "mapping", "message"),
    [
        (StaticPartitions(["eu"]), DAILY, None, "cannot map static partitions \\[eu\\] to daily partitions"),
        (DAILY, StaticPartitions(["eu"]), None, "cannot map daily partitions"),
        (StaticPartitions(["eu", "us"]), StaticPartitions(["eu"]), None, "has no 'us' of the downstream"),
        (MONTHLY, DAILY, IdentityPartitionMapping(), "one granularity, not monthly and daily"),
        (StaticPartitions(["eu"]), DAILY, TimeWindowPartitionMapping(), "time partitions on both sides"),
        (DAILY, None, IdentityPartitionMapping(), "the upstream is not partitioned"),
        (None, DAILY, IdentityPartitionMapping(), "the downstream is not partitioned"),
        (DAILY, DAILY, "identity", "must be a PartitionMapping"),
    ],
)
def test_mismatched_mappings_are_definition_errors(
    down: PartitionsDefinition | None, up: PartitionsDefinition | None, mapping: object, message: str
) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        check_mapping(down, up, mapping, what="asset 'fct' reading 'stg'")  # type: ignore[arg-type]
    assert str(info.value).startswith("asset 'fct' reading 'stg': ")


def test_time_mapping_between_timezones_is_allowed() -> None:
    berlin = DailyPartitions(start="2026-01-01", timezone="Europe/Berlin")
    assert isinstance(check_mapping(berlin, DAILY, None, what="x"), TimeWindowPartitionMapping)
    assert isinstance(check_mapping(berlin, DAILY, IdentityPartitionMapping(), what="x"), IdentityPartitionMapping)


def test_bad_time_window_offsets() -> None:
    with pytest.raises(DefinitionError, match="start_offset 0 is after end_offset -1"):
        TimeWindowPartitionMapping(end_offset=-1)
    with pytest.raises(DefinitionError, match="start_offset must be a whole number"):
        TimeWindowPartitionMapping(start_offset=1.5)  # type: ignore[arg-type]


def test_mapping_a_key_outside_the_set_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="before the first partition"):
        upstream_keys(DAILY, "2025-01-01", MONTHLY)


# -- compact status -----------------------------------------------------------------------------------


def test_runs_of_groups_consecutive_keys_with_one_state() -> None:
    keys = DailyPartitions(start="2018-01-01").keys(now=utc(2026, 3, 1))
    failed = {"2020-02-29"}
    done = {k for k in keys if k < "2026-02-20"}
    runs = runs_of(keys, lambda k: "failed" if k in failed else "materialized" if k in done else "missing")
    assert [str(r) for r in runs] == [
        "2018-01-01..2020-02-28 materialized (789)",
        "2020-02-29 failed",
        "2020-03-01..2026-02-19 materialized (2182)",
        "2026-02-20..2026-02-28 missing (9)",
    ]
    assert sum(r.count for r in runs) == len(keys)


def test_runs_of_with_a_dict_and_a_default() -> None:
    runs = runs_of(["a", "b", "c", "d"], {"a": "fresh", "b": "fresh", "d": "stale"})
    assert runs == [KeyRun("fresh", "a", "b", 2), KeyRun("missing", "c", "c", 1), KeyRun("stale", "d", "d", 1)]
    assert runs[0].span == "a..b" and runs[1].span == "c"
    assert runs_of([], {}) == []
    assert runs_of(["x"], {}, default="unknown") == [KeyRun("unknown", "x", "x", 1)]


def test_window_of_a_day_is_contiguous_with_the_next() -> None:
    daily = DailyPartitions(start="2026-01-01", timezone="America/New_York")
    keys = daily.keys(now=utc(2027, 1, 2))
    windows = [daily.window(k) for k in keys]
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert sum(hours(w) for w in windows) == 365 * 24
    assert {hours(w) for w in windows} == {23, 24, 25}
    assert windows[0].start - timedelta(0) == datetime(2026, 1, 1, tzinfo=ZoneInfo("America/New_York"))


def test_monthly_partitions_accept_a_month_as_start_and_end() -> None:
    from headwater import MonthlyPartitions

    months = MonthlyPartitions(start="2026-01", end="2026-03")
    assert months == MonthlyPartitions(start="2026-01-01", end="2026-03-01")
    assert months.keys_between("2026-01", "2026-03") == ["2026-01", "2026-02", "2026-03"]
