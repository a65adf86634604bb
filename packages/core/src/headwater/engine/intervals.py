"""The logical date and data interval of a run started by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from headwater.model.context import DataInterval
from headwater.model.pipeline import Pipeline


def manual_interval(pipeline: Pipeline, logical_date: datetime | None, now: float) -> DataInterval:
    """A manual run covers ``[date, next schedule tick)`` for scheduled pipelines, else ``[date, date]``.

    Without ``--date`` a scheduled pipeline covers the last complete interval
    before now, as a scheduled run would.
    """
    if logical_date is not None and logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=pipeline.tz)  # a bare --date is in the pipeline's timezone
    if pipeline.cron is None:
        moment = logical_date or datetime.fromtimestamp(now, UTC)
        return DataInterval(moment, moment)
    from croniter import croniter

    if logical_date is not None:
        start = logical_date.astimezone(pipeline.tz)
        end = croniter(pipeline.cron, start).get_next(datetime)
        return DataInterval(start, end)
    current = datetime.fromtimestamp(now, pipeline.tz)
    it = croniter(pipeline.cron, current)
    end = it.get_prev(datetime)
    start = it.get_prev(datetime)
    return DataInterval(start, end)
