"""The logical date and data interval of a run started by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from headwater.model.context import DataInterval
from headwater.model.pipeline import Pipeline
from headwater.model.timetable import Timetable, localize


def manual_interval(pipeline: Pipeline, logical_date: datetime | None, now: float) -> DataInterval:
    """The interval of a run started by hand (``headwater run``, ``--date``).

    A scheduled pipeline's run covers one interval of its timetable: with
    ``--date`` the interval containing that date (the one starting there if it
    is a tick), without it the last complete interval before ``now``, as a
    scheduled run would. Its start and end dates do not apply to runs by hand.
    A pipeline without a schedule covers the empty interval ``[date, date]``,
    the date being ``--date`` or now. A bare ``--date`` is in the pipeline's timezone.
    """
    if pipeline.cron is None:
        if logical_date is None:
            moment = datetime.fromtimestamp(now, UTC)
        elif logical_date.tzinfo is None:
            moment = localize(logical_date, pipeline.tz)
        else:
            moment = logical_date
        return DataInterval(moment, moment)
    timetable = Timetable(pipeline.cron, pipeline.tz)
    if logical_date is not None:
        return timetable.interval_containing_start(logical_date)
    latest = timetable.latest_complete(datetime.fromtimestamp(now, UTC))
    assert latest is not None, "a validated schedule has ticks before any date"
    return latest
