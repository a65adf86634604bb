"""Plain records read from and written to the store (times are aware UTC datetimes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def to_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def to_timestamp(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive values; we only ever store UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass(slots=True)
class RunRecord:
    run_id: str
    pipeline_id: str
    pipeline_file: str | None
    state: str
    logical_date: datetime
    interval_start: datetime
    interval_end: datetime
    params: dict[str, object] = field(default_factory=dict)
    trigger: str = "manual"
    executor: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    lane: str = "default"
    backfill_id: str | None = None
    lease_owner: str | None = None
    lease_epoch: int = 0
    lease_expires_at: datetime | None = None
    partition_key: str | None = None


@dataclass(slots=True)
class TaskInstanceRecord:
    """A task's state in a run; times are epoch seconds (converted at the store boundary)."""

    run_id: str
    task_id: str
    pipeline_id: str
    state: str
    try_number: int = 0
    max_tries: int = 1
    priority: int = 1
    pool: str | None = None
    next_try_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    duration: float | None = None


@dataclass(slots=True)
class TryRecord:
    """One try of a task; times are epoch seconds."""

    run_id: str
    task_id: str
    try_number: int
    pipeline_id: str
    state: str
    queued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    duration: float | None = None
    error: str | None = None
    log_path: str | None = None
    heartbeat_at: float | None = None
    note: str | None = None  # what the try did instead of running its code, e.g. "cache hit"


class LeaseLost(Exception):  # noqa: N818 - a condition, not a bug
    """This process no longer holds the lease of a run: another one drives it now."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"lost the lease of run {run_id}: another scheduler drives it now")
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to drive one run, until ``expires_at`` unless renewed."""

    run_id: str
    owner: str
    epoch: int
    ttl: float
