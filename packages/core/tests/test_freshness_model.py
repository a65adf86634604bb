"""Freshness policies: when an asset is late, since when, and when to look again (explicit datetimes, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import headwater
from headwater.errors import DefinitionError
from headwater.model.freshness import Freshness, FreshnessCheck


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


NOW = utc(2026, 3, 1, 12)


# -- max_lag only -------------------------------------------------------------------------------------


def test_fresh_until_the_newest_materialization_is_max_lag_old() -> None:
    policy = Freshness(max_lag="2h")
    check = policy.evaluate(utc(2026, 3, 1, 11), NOW)
    assert check == FreshnessCheck(fresh=True, expected_by=None, minutes_late=0.0, next_check=utc(2026, 3, 1, 13))


def test_late_once_the_newest_materialization_is_older_than_max_lag() -> None:
    policy = Freshness(max_lag="2h")
    check = policy.evaluate(utc(2026, 3, 1, 9, 30), NOW)
    assert check == FreshnessCheck(fresh=False, expected_by=utc(2026, 3, 1, 11, 30), minutes_late=30.0, next_check=None)


def test_exactly_max_lag_old_is_late() -> None:
    check = Freshness(max_lag="2h").evaluate(utc(2026, 3, 1, 10), NOW)
    assert not check.fresh
    assert check.expected_by == NOW
    assert check.minutes_late == 0.0


def test_next_check_is_when_a_fresh_asset_turns_late() -> None:
    policy = Freshness(max_lag="90m")
    last = utc(2026, 3, 1, 11)
    check = policy.evaluate(last, NOW)
    assert check.fresh and check.next_check == utc(2026, 3, 1, 12, 30)
    assert check.next_check is not None
    assert not policy.evaluate(last, check.next_check).fresh


def test_never_materialized_is_late_from_since() -> None:
    policy = Freshness(max_lag="2h")
    assert policy.evaluate(None, NOW, since=utc(2026, 3, 1, 8)) == FreshnessCheck(
        fresh=False, expected_by=utc(2026, 3, 1, 8), minutes_late=240.0, next_check=None
    )
    check = policy.evaluate(None, NOW)  # without since: late from now
    assert not check.fresh and check.expected_by == NOW and check.minutes_late == 0.0


def test_naive_datetimes_are_utc_and_other_zones_are_instants() -> None:
    policy = Freshness(max_lag="1h")
    naive = policy.evaluate(datetime(2026, 3, 1, 11, 30), datetime(2026, 3, 1, 12))
    assert naive.fresh and naive.next_check == utc(2026, 3, 1, 12, 30)
    tokyo = datetime(2026, 3, 1, 20, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 11:30 UTC
    assert policy.evaluate(tokyo, NOW).next_check == utc(2026, 3, 1, 12, 30)


# -- with cron ------------------------------------------------------------------------------------------

DAILY_8 = Freshness(max_lag="2h", cron="0 8 * * *", timezone="Europe/Berlin")  # 07:00 UTC in winter


def test_cron_tick_met_by_a_recent_materialization() -> None:
    check = DAILY_8.evaluate(utc(2026, 3, 1, 6), NOW)  # one hour before the 07:00 UTC tick
    assert check == FreshnessCheck(fresh=True, expected_by=None, minutes_late=0.0, next_check=utc(2026, 3, 2, 7))


def test_cron_tick_missed_is_late_since_that_tick() -> None:
    check = DAILY_8.evaluate(utc(2026, 3, 1, 4, 59), NOW)  # more than 2h before the tick
    assert check == FreshnessCheck(
        fresh=False, expected_by=utc(2026, 3, 1, 7), minutes_late=300.0, next_check=utc(2026, 3, 2, 7)
    )


def test_a_materialization_exactly_max_lag_before_the_tick_does_not_meet_it() -> None:
    assert not DAILY_8.evaluate(utc(2026, 3, 1, 5), NOW).fresh
    assert DAILY_8.evaluate(utc(2026, 3, 1, 5, 1), NOW).fresh


def test_between_ticks_a_stale_asset_is_not_late_yet() -> None:
    # materialized yesterday at 06:30 UTC: it met yesterday's tick; today's tick has not come
    check = DAILY_8.evaluate(utc(2026, 2, 28, 6, 30), utc(2026, 3, 1, 6))
    assert check.fresh and check.next_check == utc(2026, 3, 1, 7)


def test_several_missed_ticks_report_the_latest() -> None:
    check = DAILY_8.evaluate(utc(2026, 2, 20), NOW)
    assert check.expected_by == utc(2026, 3, 1, 7)
    assert check.minutes_late == 300.0


def test_a_materialization_after_the_tick_makes_the_asset_fresh() -> None:
    assert DAILY_8.evaluate(utc(2026, 3, 1, 9), NOW).fresh


def test_next_check_of_a_fresh_asset_skips_ticks_it_still_meets() -> None:
    policy = Freshness(max_lag="3h", cron="0 * * * *")  # hourly, a materialization covers three ticks
    check = policy.evaluate(utc(2026, 3, 1, 11, 30), NOW)
    assert check.fresh and check.next_check == utc(2026, 3, 1, 15)  # 14:30 is the end: 15:00 is the first miss
    assert policy.evaluate(utc(2026, 3, 1, 11, 30), utc(2026, 3, 1, 14)).fresh
    assert not policy.evaluate(utc(2026, 3, 1, 11, 30), utc(2026, 3, 1, 15)).fresh


def test_late_at_a_tick_instant_looks_again_at_the_next_tick() -> None:
    check = DAILY_8.evaluate(None, utc(2026, 3, 1, 7))
    assert check.expected_by == utc(2026, 3, 1, 7)
    assert check.next_check == utc(2026, 3, 2, 7)  # strictly later: the scheduler never spins


def test_cron_never_materialized_and_since() -> None:
    check = DAILY_8.evaluate(None, NOW)
    assert not check.fresh and check.expected_by == utc(2026, 3, 1, 7)
    # the policy applies from 10:00: the 07:00 tick is not checked, the next one is
    since = DAILY_8.evaluate(None, NOW, since=utc(2026, 3, 1, 10))
    assert since.fresh and since.next_check == utc(2026, 3, 2, 7)


def test_cron_ticks_follow_the_timezone_across_dst() -> None:
    # 08:00 Berlin is 06:00 UTC after the spring-forward of 2026-03-29
    check = DAILY_8.evaluate(utc(2026, 3, 30, 3), utc(2026, 3, 30, 12))
    assert check.expected_by == utc(2026, 3, 30, 6)
    assert check.minutes_late == 360.0


def test_presets_are_accepted() -> None:
    policy = Freshness(max_lag=3600, cron="@daily")
    assert policy.expression == "0 0 * * *"
    assert policy.lag == timedelta(hours=1)
    assert policy.evaluate(utc(2026, 3, 1, 0, 30), NOW).fresh  # the midnight tick was met
    assert policy.describe() == "at most 1h00m old at each '@daily' (UTC)"


# -- definitions --------------------------------------------------------------------------------------


def test_policies_are_frozen_comparable_values() -> None:
    assert Freshness(max_lag="2h") == Freshness(max_lag=7200)
    assert Freshness("2h", cron="@daily") == Freshness("2h", cron="0 0 * * *")
    assert Freshness("2h") != Freshness("2h", timezone="Europe/Berlin")
    assert hash(Freshness("2h")) == hash(Freshness(timedelta(hours=2)))
    assert headwater.Freshness is Freshness
    assert Freshness("2h").describe() == "at most 2h old"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_lag": "soon"}, "freshness: max_lag: cannot read 'soon' as a duration"),
        ({"max_lag": 0}, "freshness: max_lag must be positive, got 0"),
        ({"max_lag": "-1h"}, "freshness: max_lag: cannot read '-1h'"),
        ({"max_lag": None}, "freshness: max_lag: expected a duration"),
        ({"max_lag": "2h", "cron": "whenever"}, "freshness: cron 'whenever' is not a cron expression"),
        ({"max_lag": "2h", "cron": "61 * * * *"}, "freshness: cron '61 \\* \\* \\* \\*' is not a valid cron"),
        ({"max_lag": "2h", "cron": "0 0 30 2 *"}, "freshness: cron '0 0 30 2 \\*' never fires"),
        ({"max_lag": "2h", "cron": "@sometimes"}, "freshness: cron unknown preset '@sometimes'"),
        ({"max_lag": "2h", "timezone": "Moon/Base"}, "freshness: unknown timezone 'Moon/Base'"),
    ],
)
def test_bad_policies_are_definition_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        Freshness(**kwargs)  # type: ignore[arg-type]
