"""Backfill records: a pipeline's intervals in a range, run in their own lane."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update

from headwater.store import tables as t
from headwater.store.records import RunRecord, TaskInstanceRecord, to_datetime
from headwater.store.repository import Store, _aware


@dataclass(frozen=True, slots=True)
class BackfillRecord:
    backfill_id: str
    pipeline_id: str
    range_start: datetime
    range_end: datetime
    parallelism: int
    strategy: str
    skip_existing: bool
    state: str
    total: int
    created_at: datetime
    ended_at: datetime | None = None


def create(
    store: Store,
    backfill: BackfillRecord,
    runs: Sequence[tuple[RunRecord, Sequence[TaskInstanceRecord]]],
) -> None:
    """Record the backfill and every run it will make, in one transaction."""
    from headwater.store.leases import insert_run_if_absent

    with store.engine.begin() as conn:
        conn.execute(
            insert(t.backfills),
            {
                "backfill_id": backfill.backfill_id,
                "pipeline_id": backfill.pipeline_id,
                "range_start": backfill.range_start.astimezone(UTC),  # SQLite keeps wall time: store UTC
                "range_end": backfill.range_end.astimezone(UTC),
                "parallelism": backfill.parallelism,
                "strategy": backfill.strategy,
                "skip_existing": backfill.skip_existing,
                "state": backfill.state,
                "total": backfill.total,
                "created_at": backfill.created_at.astimezone(UTC),
            },
        )
        for run, instances in runs:
            insert_run_if_absent(conn, run, instances)


def get(store: Store, backfill_id: str) -> BackfillRecord | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(t.backfills).where(t.backfills.c.backfill_id == backfill_id)).mappings().first()
    return None if row is None else _record(dict(row))


def find_open(store: Store, pipeline_id: str, start: datetime, end: datetime) -> BackfillRecord | None:
    """An unfinished backfill of the same pipeline and range (to resume instead of starting over)."""
    b = t.backfills.c
    query = select(t.backfills).where(b.pipeline_id == pipeline_id, b.state == "running").order_by(b.created_at)
    with store.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            record = _record(dict(row))
            if record.range_start == start and record.range_end == end:
                return record
    return None


def finish(store: Store, backfill_id: str, state: str, now: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(t.backfills)
            .where(t.backfills.c.backfill_id == backfill_id)
            .values(state=state, ended_at=to_datetime(now))
        )


def active_parallelism(store: Store) -> dict[str, int]:
    """``backfill_id -> parallelism`` of every running backfill."""
    b = t.backfills.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(b.backfill_id, b.parallelism).where(b.state == "running")).all()
    return {backfill_id: int(parallelism) for backfill_id, parallelism in rows}


def run_states(store: Store, backfill_id: str) -> dict[str, int]:
    """How many of the backfill's runs are in each state."""
    r = t.runs.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(r.state, func.count()).where(r.backfill_id == backfill_id).group_by(r.state)).all()
    return {state: int(n) for state, n in rows}


def succeeded_intervals(store: Store, pipeline_id: str) -> set[datetime]:
    """Logical dates (UTC) with at least one successful run of the pipeline (for --skip-existing)."""
    r = t.runs.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(r.logical_date).where(r.pipeline_id == pipeline_id, r.state == "success")).all()
    return {value for (value,) in ((_aware(d),) for (d,) in rows) if value is not None}


def set_parallelism(store: Store, backfill_id: str, parallelism: int) -> None:
    """Change how many of the backfill's runs may be active at once (e.g. when it is resumed)."""
    with store.engine.begin() as conn:
        conn.execute(
            update(t.backfills).where(t.backfills.c.backfill_id == backfill_id).values(parallelism=parallelism)
        )


def runs_in_state(store: Store, backfill_id: str, state: str) -> list[RunRecord]:
    """The backfill's runs in ``state``, oldest logical date first."""
    from headwater.store.repository import _run_record

    r = t.runs.c
    query = select(t.runs).where(r.backfill_id == backfill_id, r.state == state).order_by(r.logical_date)
    with store.engine.connect() as conn:
        return [_run_record(dict(row)) for row in conn.execute(query).mappings()]


def _record(row: dict[str, object]) -> BackfillRecord:
    for name in ("range_start", "range_end", "created_at", "ended_at"):
        row[name] = _aware(row[name])  # type: ignore[arg-type]
    return BackfillRecord(**row)  # type: ignore[arg-type]


def materialized_partitions(store: Store, backfill_id: str, asset_key: str) -> set[str]:
    """Partitions of ``asset_key`` that runs of the backfill materialized (an asset backfill resumes without them)."""
    m, r = t.materializations.c, t.runs.c
    query = (
        select(m.partition_key)
        .join(t.runs, r.run_id == m.run_id)
        .where(r.backfill_id == backfill_id, m.asset_key == asset_key)
        .distinct()
    )
    with store.engine.connect() as conn:
        return {str(key) for (key,) in conn.execute(query)}
