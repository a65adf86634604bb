"""Every query the engine and the CLI run against the metadata database."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from headwater.store import tables as t
from headwater.store.records import (
    Lease,
    RunRecord,
    TaskInstanceRecord,
    TryRecord,
    to_datetime,
    to_timestamp,
)

if TYPE_CHECKING:
    from headwater.store.assets import AssetWrites

_TI_MUTABLE = ("state", "try_number", "next_try_at", "started_at", "ended_at", "duration")
_TRY_MUTABLE = ("state", "started_at", "ended_at", "duration", "error", "log_path", "heartbeat_at", "note")
_TIME_FIELDS = ("next_try_at", "started_at", "ended_at", "queued_at", "heartbeat_at")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _row_times(row: dict[str, object]) -> dict[str, object]:
    """Convert the epoch-second time fields of ``row`` to datetimes (in place)."""
    for name in _TIME_FIELDS:
        if name in row:
            row[name] = to_datetime(row[name])  # type: ignore[arg-type]
    return row


class Store:
    """The metadata store. Every write method is one committed transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ti_update = (
            update(t.task_instances)
            .where(t.task_instances.c.run_id == bindparam("b_run_id"))
            .where(t.task_instances.c.task_id == bindparam("b_task_id"))
            .values({name: bindparam(name) for name in _TI_MUTABLE})
        )
        self._try_update = (
            update(t.task_tries)
            .where(t.task_tries.c.run_id == bindparam("b_run_id"))
            .where(t.task_tries.c.task_id == bindparam("b_task_id"))
            .where(t.task_tries.c.try_number == bindparam("b_try_number"))
            .values({name: bindparam(name) for name in _TRY_MUTABLE})
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- runs ----------------------------------------------------------------------
    def create_run(self, run: RunRecord, instances: Sequence[TaskInstanceRecord]) -> None:
        """Insert a run and all its task instances in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(insert(t.runs), _run_row(run))
            if instances:
                conn.execute(insert(t.task_instances), [_ti_row(ti) for ti in instances])

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.run_id == run_id)).mappings().first()
        return None if row is None else _run_record(dict(row))

    def list_runs(self, pipeline_id: str | None = None, *, limit: int = 20) -> list[RunRecord]:
        query = select(t.runs).order_by(t.runs.c.created_at.desc()).limit(limit)
        if pipeline_id is not None:
            query = query.where(t.runs.c.pipeline_id == pipeline_id)
        with self.engine.connect() as conn:
            return [_run_record(dict(r)) for r in conn.execute(query).mappings()]

    def task_instances(self, run_id: str) -> list[TaskInstanceRecord]:
        query = select(t.task_instances).where(t.task_instances.c.run_id == run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            data = dict(row)
            for name in ("next_try_at", "started_at", "ended_at"):
                data[name] = to_timestamp(data[name])
            out.append(TaskInstanceRecord(**data))
        return out

    def tries(self, run_id: str, task_id: str | None = None) -> list[TryRecord]:
        query = select(t.task_tries).where(t.task_tries.c.run_id == run_id)
        if task_id is not None:
            query = query.where(t.task_tries.c.task_id == task_id)
        query = query.order_by(t.task_tries.c.task_id, t.task_tries.c.try_number)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            data = dict(row)
            for name in ("queued_at", "started_at", "ended_at", "heartbeat_at"):
                data[name] = to_timestamp(data[name])
            out.append(TryRecord(**data))
        return out

    def write_batch(
        self,
        *,
        instances: Sequence[TaskInstanceRecord] = (),
        new_instances: Sequence[TaskInstanceRecord] = (),
        new_tries: Sequence[TryRecord] = (),
        changed_tries: Sequence[TryRecord] = (),
        results: Sequence[tuple[str, str, str, str]] = (),
        run_state: tuple[str, str, float | None, float | None] | None = None,
        released_slots: Sequence[tuple[str, str, int]] = (),
        fence: Lease | None = None,
        now: float | None = None,
        extra: Callable[[Connection], None] | None = None,
        assets: AssetWrites | None = None,
    ) -> None:
        """Write a batch of state changes in one transaction (the engine's group commit).

        With ``fence``, the batch is written only while that lease is still held
        (LeaseLost otherwise, and nothing is written); it also renews the lease.
        ``assets``: materializations, asset partition states and lineage, committed with the task states.
        """
        with self.engine.begin() as conn:
            if fence is not None:
                from headwater.store.leases import fence as check_fence

                check_fence(conn, fence, now if now is not None else datetime.now(UTC).timestamp())
            if released_slots:
                from headwater.store.pools import release_in

                release_in(conn, released_slots)
            if new_instances:  # the instances of a mapped task, created when it expands
                conn.execute(insert(t.task_instances), [_ti_row(ti) for ti in new_instances])
            if new_tries:
                conn.execute(insert(t.task_tries), [_try_row(tr) for tr in new_tries])
            if changed_tries:
                conn.execute(
                    self._try_update,
                    [
                        {
                            "b_run_id": tr.run_id,
                            "b_task_id": tr.task_id,
                            "b_try_number": tr.try_number,
                            **_row_times({n: getattr(tr, n) for n in _TRY_MUTABLE}),
                        }
                        for tr in changed_tries
                    ],
                )
            if instances:
                conn.execute(
                    self._ti_update,
                    [
                        {
                            "b_run_id": ti.run_id,
                            "b_task_id": ti.task_id,
                            **_row_times({n: getattr(ti, n) for n in _TI_MUTABLE}),
                        }
                        for ti in instances
                    ],
                )
            if results:
                conn.execute(
                    insert(t.results),
                    [{"run_id": r, "task_id": k, "encoding": e, "value": v} for r, k, e, v in results],
                )
            if run_state is not None:
                run_id, state, started, ended = run_state
                values: dict[str, object] = {"state": state, "ended_at": to_datetime(ended)}
                if state in ("success", "failed"):  # a finished run is nobody's to drive
                    values.update(lease_owner=None, lease_expires_at=None)
                if started is not None:
                    values["started_at"] = to_datetime(started)
                conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(values))
            if assets:
                assets.write(conn, now if now is not None else datetime.now(UTC).timestamp())
            if extra is not None:
                extra(conn)

    def results(self, run_id: str) -> dict[str, tuple[str, str]]:
        """``task_id -> (encoding, value)`` for every stored result of a run."""
        query = select(t.results.c.task_id, t.results.c.encoding, t.results.c.value).where(t.results.c.run_id == run_id)
        with self.engine.connect() as conn:
            return {row[0]: (row[1], row[2]) for row in conn.execute(query)}

    # -- history -------------------------------------------------------------------
    def typical_durations(self, pipeline_id: str, *, last: int = 20) -> dict[str, float]:
        """Median duration of each task's recent successful tries."""
        query = (
            select(t.task_tries.c.task_id, t.task_tries.c.duration)
            .where(t.task_tries.c.pipeline_id == pipeline_id)
            .where(t.task_tries.c.state == "success")
            .where(t.task_tries.c.duration.is_not(None))
            .order_by(t.task_tries.c.ended_at.desc())
            .limit(last * 500)
        )
        samples: dict[str, list[float]] = {}
        with self.engine.connect() as conn:
            for task_id, duration in conn.execute(query):
                bucket = samples.setdefault(task_id, [])
                if len(bucket) < last:
                    bucket.append(duration)
        return {task_id: statistics.median(values) for task_id, values in samples.items()}


def _utc(value: datetime | None) -> datetime | None:
    """SQLite stores a datetime's wall time without its offset: always write UTC."""
    return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value


def _run_row(run: RunRecord) -> dict[str, object]:
    return {
        "run_id": run.run_id,
        "pipeline_id": run.pipeline_id,
        "pipeline_file": run.pipeline_file,
        "state": run.state,
        "logical_date": _utc(run.logical_date),
        "interval_start": _utc(run.interval_start),
        "interval_end": _utc(run.interval_end),
        "params": json.dumps(run.params, default=str),
        "trigger": run.trigger,
        "executor": run.executor,
        "created_at": _utc(run.created_at) or datetime.now(UTC),
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "lane": run.lane,
        "backfill_id": run.backfill_id,
        "lease_owner": run.lease_owner,
        "lease_epoch": run.lease_epoch,
        "lease_expires_at": run.lease_expires_at,
        "partition_key": run.partition_key,
    }


def _ti_row(ti: TaskInstanceRecord) -> dict[str, object]:
    row = {
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "pipeline_id": ti.pipeline_id,
        "max_tries": ti.max_tries,
        "priority": ti.priority,
        "pool": ti.pool,
        **{n: getattr(ti, n) for n in _TI_MUTABLE},
    }
    return _row_times(row)


def _try_row(tr: TryRecord) -> dict[str, object]:
    row = {
        "run_id": tr.run_id,
        "task_id": tr.task_id,
        "try_number": tr.try_number,
        "pipeline_id": tr.pipeline_id,
        "queued_at": tr.queued_at,
        **{n: getattr(tr, n) for n in _TRY_MUTABLE},
    }
    return _row_times(row)


def _run_record(row: dict[str, object]) -> RunRecord:
    for name in (
        "logical_date",
        "interval_start",
        "interval_end",
        "created_at",
        "started_at",
        "ended_at",
        "lease_expires_at",
    ):
        row[name] = _aware(row[name])  # type: ignore[arg-type]
    row["params"] = json.loads(row["params"] or "{}")  # type: ignore[arg-type]
    return RunRecord(**row)  # type: ignore[arg-type]
