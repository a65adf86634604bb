"""Deadline misses (``hw_deadline_misses``) and the reads the deadline watch needs.

A row is keyed by ``(run_id, kind)``: each run is recorded at most once as
``predicted`` (it is expected to end late) and once as ``missed`` (it did).
:func:`record` inserts only if the row is absent and says whether it did, so
when several schedulers watch the same runs exactly one of them alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, update

from headwater.store import tables as t
from headwater.store.dialects import chunks, conflict_insert, utc
from headwater.store.records import RunRecord, TaskInstanceRecord, to_timestamp
from headwater.store.repository import Store, _aware, _run_record

PREDICTED, MISSED = "predicted", "missed"
ACTIVE_RUN_STATES = ("queued", "running")
PATH_SEPARATOR = " > "

_misses = t.deadline_misses


@dataclass(frozen=True, slots=True)
class DeadlineMiss:
    """A run that is predicted to end after its deadline, or that ended (or is still going) after it."""

    run_id: str
    kind: str  # PREDICTED | MISSED
    pipeline_id: str
    deadline_at: datetime
    detected_at: datetime
    expected_end_at: datetime | None
    minutes_late: float
    critical_path: tuple[str, ...] = ()


def _miss(row: Any) -> DeadlineMiss:
    deadline_at = _aware(row.deadline_at)
    detected_at = _aware(row.detected_at)
    assert deadline_at is not None and detected_at is not None
    return DeadlineMiss(
        run_id=row.run_id,
        kind=row.kind,
        pipeline_id=row.pipeline_id,
        deadline_at=deadline_at,
        detected_at=detected_at,
        expected_end_at=_aware(row.expected_end_at),
        minutes_late=float(row.minutes_late),
        critical_path=tuple(p for p in (row.critical_path or "").split(PATH_SEPARATOR) if p),
    )


# -- writing ------------------------------------------------------------------------------------
def record(store: Store, miss: DeadlineMiss) -> bool:
    """Insert ``miss`` unless its ``(run_id, kind)`` is recorded already; True if this call inserted it."""
    with store.engine.begin() as conn:
        stmt = conflict_insert(conn, _misses, what="deadline tracking").values(
            run_id=miss.run_id,
            kind=miss.kind,
            pipeline_id=miss.pipeline_id,
            deadline_at=utc(miss.deadline_at),
            detected_at=utc(miss.detected_at),
            expected_end_at=utc(miss.expected_end_at),
            minutes_late=miss.minutes_late,
            critical_path=PATH_SEPARATOR.join(miss.critical_path),
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=[_misses.c.run_id, _misses.c.kind])
        # SQLAlchemy 2.1 reports an INSERT's rowcount only when asked to (else -1 on PostgreSQL)
        result = conn.execute(stmt.execution_options(preserve_rowcount=True))
        return result.rowcount == 1


def settle_missed(store: Store, run_id: str, ended_at: datetime, minutes_late: float) -> None:
    """A late run has ended: its ``missed`` row now says when, and how late it really was."""
    with store.engine.begin() as conn:
        conn.execute(
            update(_misses)
            .where(_misses.c.run_id == run_id, _misses.c.kind == MISSED)
            .values(expected_end_at=utc(ended_at), minutes_late=minutes_late)
        )


# -- reading ------------------------------------------------------------------------------------
def for_run(store: Store, run_id: str) -> list[DeadlineMiss]:
    """The rows of one run (``missed`` first)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(_misses).where(_misses.c.run_id == run_id).order_by(_misses.c.kind)).all()
    return [_miss(r) for r in rows]


def for_runs(store: Store, run_ids: Sequence[str]) -> dict[tuple[str, str], DeadlineMiss]:
    """``(run_id, kind) -> DeadlineMiss`` for the rows of these runs."""
    out: dict[tuple[str, str], DeadlineMiss] = {}
    with store.engine.connect() as conn:
        for chunk in chunks(run_ids):
            for row in conn.execute(select(_misses).where(_misses.c.run_id.in_(chunk))):
                miss = _miss(row)
                out[(miss.run_id, miss.kind)] = miss
    return out


def candidate_runs(
    store: Store, pipeline_ids: Sequence[str], *, created_since: datetime, ended_since: datetime
) -> list[RunRecord]:
    """The runs the deadline watch looks at, outside backfills.

    Every queued or running run; runs that succeeded since ``ended_since`` (they
    may have ended late); and failed runs not yet recorded as missed (their
    deadline may pass while they stay failed). Finished runs are looked for only
    among those created since ``created_since``, which keeps the query on the
    ``(pipeline_id, created_at)`` index.
    """
    r = t.runs.c
    already_missed = exists().where(_misses.c.run_id == r.run_id, _misses.c.kind == MISSED)
    recent = and_(
        r.created_at >= created_since,
        or_(
            and_(r.state == "success", r.ended_at >= ended_since),
            and_(r.state == "failed", ~already_missed),
        ),
    )
    out: list[RunRecord] = []
    with store.engine.connect() as conn:
        for chunk in chunks(pipeline_ids):
            query = select(t.runs).where(
                r.pipeline_id.in_(chunk), r.lane != "backfill", or_(r.state.in_(ACTIVE_RUN_STATES), recent)
            )
            out += [_run_record(dict(row)) for row in conn.execute(query).mappings()]
    return out


def task_instances(store: Store, run_ids: Sequence[str]) -> dict[str, list[TaskInstanceRecord]]:
    """``run_id -> task instances`` for several runs at once."""
    out: dict[str, list[TaskInstanceRecord]] = {run_id: [] for run_id in run_ids}
    with store.engine.connect() as conn:
        for chunk in chunks(run_ids):
            rows = conn.execute(select(t.task_instances).where(t.task_instances.c.run_id.in_(chunk))).mappings()
            for row in rows:
                data = dict(row)
                for name in ("next_try_at", "started_at", "ended_at"):
                    data[name] = to_timestamp(data[name])
                out[data["run_id"]].append(TaskInstanceRecord(**data))
    return out


def running_try_starts(store: Store, run_ids: Sequence[str]) -> dict[tuple[str, str], float]:
    """``(run_id, task_id) -> started_at`` (epoch seconds) of each running try of these runs."""
    tr = t.task_tries.c
    out: dict[tuple[str, str], float] = {}
    with store.engine.connect() as conn:
        for chunk in chunks(run_ids):
            query = select(tr.run_id, tr.task_id, tr.started_at).where(tr.run_id.in_(chunk), tr.state == "running")
            for run_id, task_id, started_at in conn.execute(query):
                ts = to_timestamp(started_at)
                if ts is not None:
                    out[(run_id, task_id)] = max(ts, out.get((run_id, task_id), ts))
    return out


def running_runs(store: Store, pipeline_id: str) -> list[RunRecord]:
    """The runs of ``pipeline_id`` that count against its ``max_active_runs`` (running, outside backfills)."""
    r = t.runs.c
    query = (
        select(t.runs)
        .where(r.pipeline_id == pipeline_id, r.state == "running", r.lane != "backfill")
        .order_by(r.started_at)
    )
    with store.engine.connect() as conn:
        return [_run_record(dict(row)) for row in conn.execute(query).mappings()]
