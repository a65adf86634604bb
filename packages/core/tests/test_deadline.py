"""Deadlines: a local time of day, or a duration after the data interval ends."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headwater.errors import DefinitionError
from headwater.loader.yaml_pipelines import load_yaml
from headwater.model.deadline import Deadline
from headwater.model.pipeline import Pipeline

BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("08:00", Deadline(time_of_day=time(8), tz=BERLIN)),
        ("8:30", Deadline(time_of_day=time(8, 30), tz=BERLIN)),
        (" 23:59:59 ", Deadline(time_of_day=time(23, 59, 59), tz=BERLIN)),
        (time(7, 15), Deadline(time_of_day=time(7, 15), tz=BERLIN)),
        ("2h", Deadline(after=timedelta(hours=2), tz=BERLIN)),
        ("1h30m", Deadline(after=timedelta(minutes=90), tz=BERLIN)),
        (90, Deadline(after=timedelta(seconds=90), tz=BERLIN)),
        (1.5, Deadline(after=timedelta(seconds=1.5), tz=BERLIN)),
        (timedelta(minutes=5), Deadline(after=timedelta(minutes=5), tz=BERLIN)),
    ],
)
def test_parse(value: object, expected: Deadline) -> None:
    assert Deadline.parse(value, BERLIN) == expected  # type: ignore[arg-type]


def test_a_deadline_passes_through() -> None:
    deadline = Deadline(after=timedelta(hours=1))
    assert Deadline.parse(deadline, BERLIN) is deadline


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("24:00", "'24:00' is not a time of day"),
        ("08:61", "'08:61' is not a time of day"),
        ("soon", "cannot read 'soon' \\(use a time of day like '08:00' or a duration like '2h'"),
        ("0830", "cannot read '0830'"),
        (0, "a duration must be positive"),
        (-5, "cannot read -5"),
        (True, "expected a time of day like '08:00' or a duration like '2h', got True"),
        ([8], "expected a time of day"),
        (time(8, tzinfo=UTC), "give it without one"),
    ],
)
def test_bad_deadline_is_a_definition_error_naming_the_pipeline(value: object, message: str) -> None:
    with pytest.raises(DefinitionError, match=message) as info:
        Pipeline("late", schedule="@daily", deadline=value)  # type: ignore[arg-type]
    assert info.value.pipeline == "late"
    assert str(info.value).startswith("pipeline 'late': deadline: ")


def test_pipeline_deadline_is_in_its_timezone() -> None:
    pipeline = Pipeline("p", schedule="@daily", timezone="Europe/Berlin", deadline="08:00")
    assert pipeline.deadline == Deadline(time_of_day=time(8), tz=BERLIN)
    assert Pipeline("q").deadline is None


def test_time_of_day_on_the_day_the_interval_ends() -> None:
    deadline = Deadline.parse("08:00", BERLIN)
    midnight = datetime(2026, 3, 2, tzinfo=BERLIN)  # a daily run for March 1st ends at midnight
    assert deadline.due_at(midnight) == datetime(2026, 3, 2, 8, tzinfo=BERLIN)
    assert deadline.due_at(midnight).tzinfo is BERLIN
    assert deadline.due_at(utc(2026, 3, 1, 23)) == datetime(2026, 3, 2, 8, tzinfo=BERLIN)  # same local instant


def test_time_of_day_not_after_the_end_means_the_next_day() -> None:
    deadline = Deadline.parse("08:00", BERLIN)
    assert deadline.due_at(datetime(2026, 3, 2, 9, tzinfo=BERLIN)) == datetime(2026, 3, 3, 8, tzinfo=BERLIN)
    assert deadline.due_at(datetime(2026, 3, 2, 8, tzinfo=BERLIN)) == datetime(2026, 3, 3, 8, tzinfo=BERLIN)
    assert deadline.due_at(datetime(2026, 3, 2, 7, 59, tzinfo=BERLIN)) == datetime(2026, 3, 2, 8, tzinfo=BERLIN)


def test_time_of_day_follows_the_dst_rule() -> None:
    deadline = Deadline.parse("02:30", BERLIN)
    spring = deadline.due_at(datetime(2026, 3, 29, tzinfo=BERLIN))  # 02:30 does not exist that night
    assert spring.astimezone(UTC) == utc(2026, 3, 29, 1)  # the first instant after the gap: 03:00 CEST
    fall = deadline.due_at(datetime(2026, 10, 25, tzinfo=BERLIN))  # 02:30 happens twice
    assert fall.astimezone(UTC) == utc(2026, 10, 25, 0, 30)  # the first time


def test_duration_counts_absolute_time_after_the_interval_end() -> None:
    deadline = Deadline.parse("6h", BERLIN)
    due = deadline.due_at(datetime(2026, 3, 29, tzinfo=BERLIN))  # 23:00 UTC; the clocks jump at 01:00 UTC
    assert due.astimezone(UTC) == utc(2026, 3, 29, 5)
    assert (due.hour, due.tzinfo) == (7, BERLIN)  # 07:00 CEST: six real hours after midnight CET


def test_due_at_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        Deadline.parse("2h", UTC).due_at(datetime(2026, 1, 1))


def test_describe() -> None:
    assert Deadline.parse("2h", UTC).describe() == "within 2h00m after the interval ends"
    assert Deadline.parse("2h", UTC).describe(scheduled=False) == "within 2h00m of the run's creation"
    assert Deadline.parse("08:00", BERLIN).describe().startswith("by 08:00 Europe/Berlin on the day the interval ends")
    assert (
        Deadline.parse("08:00:30", UTC).describe(scheduled=False)
        == "by the first 08:00:30 UTC after the run's creation"
    )


def test_yaml_pipeline_deadlines(tmp_path: Path) -> None:
    def load(deadline: str) -> Deadline | None:
        path = tmp_path / "p.yaml"
        path.write_text(
            textwrap.dedent(
                f"""
                id: p
                schedule: "0 6 * * *"
                timezone: Europe/Berlin
                deadline: {deadline}
                timeout: 90
                tasks:
                  - id: a
                    operator: bash
                    command: "true"
                """
            ),
            encoding="utf-8",
        )
        (pipeline,) = load_yaml(path)
        assert pipeline.timeout == 90
        return pipeline.deadline

    assert load('"08:00"') == Deadline(time_of_day=time(8), tz=BERLIN)
    assert load("18:30") == Deadline(time_of_day=time(18, 30), tz=BERLIN)  # YAML 1.1 would read 1110
    assert load("2h") == Deadline(after=timedelta(hours=2), tz=BERLIN)
    assert load("7200") == Deadline(after=timedelta(hours=2), tz=BERLIN)
    with pytest.raises(DefinitionError, match="deadline: cannot read 'tomorrow'") as info:
        load("tomorrow")
    assert info.value.pipeline == "p"
