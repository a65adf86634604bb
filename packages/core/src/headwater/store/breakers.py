"""Circuit breakers: count each task's consecutive failed runs, open at the threshold, close only by a person.

A task with ``circuit_breaker=N`` gets a row in ``hw_circuit_breakers`` the first time one of its
runs fails for good (retries are not counted: only the final outcome of a task instance). Each
later failed run adds one; a successful run sets the count back to zero but does not close an open
breaker: only :func:`reset` (``headwater reset``) does. A run is counted once, however many times
it is resumed and fails again.

Every function takes a :class:`~headwater.store.repository.Store` (one committed transaction of
its own) or an SQLAlchemy ``Connection`` (runs inside the caller's transaction, never commits).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from headwater.store import tables as t
from headwater.store.dialects import conflict_insert
from headwater.store.records import to_datetime, to_timestamp
from headwater.store.repository import Store

CLOSED, OPEN = "closed", "open"
ERROR_LIMIT = 4000

_table = t.circuit_breakers


@dataclass(frozen=True, slots=True)
class BreakerInfo:
    """A task's breaker. ``last_run_id`` is the run of the last counted failure (cleared by a success)."""

    pipeline_id: str
    task_id: str
    state: str
    consecutive_failures: int
    opened_at: float | None
    last_run_id: str | None
    last_error: str | None

    @property
    def is_open(self) -> bool:
        return self.state == OPEN


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """A breaker that :func:`record_outcome` just opened: alert on it once."""

    pipeline_id: str
    task_id: str
    run_id: str
    consecutive_failures: int
    threshold: int
    opened_at: float
    error: str | None


@contextmanager
def _connect(source: Store | Connection, *, write: bool) -> Iterator[Connection]:
    if isinstance(source, Connection):
        yield source
    elif write:
        with source.engine.begin() as conn:
            yield conn
    else:
        with source.engine.connect() as conn:
            yield conn


def _key(pipeline_id: str, task_id: str) -> Any:
    return (_table.c.pipeline_id == pipeline_id) & (_table.c.task_id == task_id)


def _info(row: Any) -> BreakerInfo:
    return BreakerInfo(
        pipeline_id=row.pipeline_id,
        task_id=row.task_id,
        state=row.state,
        consecutive_failures=row.consecutive_failures,
        opened_at=to_timestamp(row.opened_at),
        last_run_id=row.last_run_id,
        last_error=row.last_error,
    )


def record_outcome(
    source: Store | Connection,
    *,
    pipeline_id: str,
    task_id: str,
    run_id: str,
    succeeded: bool,
    error: str | None,
    threshold: int | None,
    now: float,
) -> BreakerTransition | None:
    """Record the final outcome of a task instance; return a transition when this failure opened the breaker.

    ``threshold`` is the task's ``circuit_breaker`` option: with None nothing is recorded. The
    count is incremented atomically (an upsert), so schedulers sharing a database count each
    failed run once and exactly one of them gets the transition.
    """
    if threshold is None:
        return None
    with _connect(source, write=True) as conn:
        key = _key(pipeline_id, task_id)
        if succeeded:
            conn.execute(
                update(_table)
                .where(key)
                .where((_table.c.consecutive_failures != 0) | _table.c.last_run_id.is_not(None))
                .values(consecutive_failures=0, last_run_id=None)
            )
            return None
        error = None if error is None else error[:ERROR_LIMIT]
        stmt = conflict_insert(conn, _table, what="circuit breakers").values(
            pipeline_id=pipeline_id,
            task_id=task_id,
            consecutive_failures=1,
            state=CLOSED,
            last_run_id=run_id,
            last_error=error,
        )
        excluded = stmt.excluded
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[_table.c.pipeline_id, _table.c.task_id],
                set_={
                    "consecutive_failures": _table.c.consecutive_failures + 1,
                    "last_run_id": excluded.last_run_id,
                    "last_error": excluded.last_error,
                },
                where=_table.c.last_run_id.is_distinct_from(excluded.last_run_id),  # a resumed run counts once
            )
        )
        opened = conn.execute(
            update(_table)
            .where(key)
            .where(_table.c.state == CLOSED)
            .where(_table.c.consecutive_failures >= threshold)
            .values(state=OPEN, opened_at=to_datetime(now))
        )
        if opened.rowcount != 1:
            return None
        row = conn.execute(select(_table).where(key)).one()
        return BreakerTransition(
            pipeline_id=pipeline_id,
            task_id=task_id,
            run_id=run_id,
            consecutive_failures=row.consecutive_failures,
            threshold=threshold,
            opened_at=now,
            error=row.last_error,
        )


def list_breakers(
    source: Store | Connection, pipeline_id: str | None = None, *, only_open: bool = False
) -> list[BreakerInfo]:
    """Every recorded breaker (of ``pipeline_id``, or of all pipelines), by pipeline and task."""
    query = select(_table).order_by(_table.c.pipeline_id, _table.c.task_id)
    if pipeline_id is not None:
        query = query.where(_table.c.pipeline_id == pipeline_id)
    if only_open:
        query = query.where(_table.c.state == OPEN)
    with _connect(source, write=False) as conn:
        return [_info(row) for row in conn.execute(query)]


def open_breakers(source: Store | Connection, pipeline_id: str) -> dict[str, BreakerInfo]:
    """``task_id -> BreakerInfo`` for the open breakers of ``pipeline_id``."""
    return {info.task_id: info for info in list_breakers(source, pipeline_id, only_open=True)}


def reset(source: Store | Connection, pipeline_id: str, task_id: str | None = None) -> list[BreakerInfo]:
    """Close the open breakers of ``pipeline_id`` (or of its task ``task_id``) and zero their counts.

    Returns the breakers that were open, as they were before closing; failure counts of closed
    breakers are zeroed too.
    """
    match = _table.c.pipeline_id == pipeline_id
    if task_id is not None:
        match = match & (_table.c.task_id == task_id)
    zeroed = {"consecutive_failures": 0, "last_run_id": None}
    with _connect(source, write=True) as conn:
        rows = conn.execute(
            select(_table).where(match).where(_table.c.state == OPEN).order_by(_table.c.task_id).with_for_update()
        ).all()
        closed = [_info(row) for row in rows]
        if closed:
            conn.execute(
                update(_table)
                .where(match)
                .where(_table.c.task_id.in_([b.task_id for b in closed]))
                .values(state=CLOSED, opened_at=None, **zeroed)
            )
        conn.execute(
            update(_table)
            .where(match)
            .where(_table.c.state == CLOSED)
            .where((_table.c.consecutive_failures != 0) | _table.c.last_run_id.is_not(None))
            .values(**zeroed)
        )
    return closed
