"""Leases: which process drives which run, fenced by an epoch, and the schedulers that hold them.

A run is driven by exactly one process at a time: the holder of its lease
(``hw_runs.lease_owner``). Taking a lease bumps ``lease_epoch``; every write the
holder makes is fenced on that epoch (:func:`fence`), so a process that lost its
lease (paused past its expiry, partitioned) can never overwrite its successor.
Owners are named ``host:pid:token``: a lease held by a process on this host that
no longer exists is free at once, without waiting for it to expire.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Interval,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)

from headwater.store import tables as t
from headwater.store.dialects import conflict_insert
from headwater.store.records import Lease, LeaseLost, RunRecord, TaskInstanceRecord, to_datetime
from headwater.store.repository import Store, _run_record, _run_row, _ti_row

ACTIVE_RUN_STATES = ("queued", "running")


def _now(conn: Connection, now: float) -> Any:
    """The current time for lease arithmetic: the database server's clock on PostgreSQL.

    Leases are kept on the database's clock, so schedulers on machines whose clocks
    disagree still agree on when a lease expires. SQLite lives on this machine
    (and tests inject their clock there): the caller's ``now``.
    """
    if conn.dialect.name == "postgresql":
        return func.clock_timestamp(type_=DateTime(timezone=True))
    return to_datetime(now)


def _expiry(conn: Connection, now: float, ttl: float) -> Any:
    return _now(conn, now) + timedelta(seconds=ttl)


def _db_time(conn: Connection, now: float) -> datetime:
    """The current time as a value (one query on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        value: datetime = conn.execute(select(func.clock_timestamp())).scalar_one()
        return value
    moment = to_datetime(now)
    assert moment is not None
    return moment


def new_owner_id() -> str:
    """A process-unique lease owner: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer exists."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _claimable(now: Any) -> ColumnElement[bool]:
    runs = t.runs.c
    return or_(runs.lease_owner.is_(None), runs.lease_expires_at.is_(None), runs.lease_expires_at < now)


# -- runs ---------------------------------------------------------------------------------------
def insert_run_if_absent(conn: Connection, run: RunRecord, instances: Sequence[TaskInstanceRecord]) -> bool:
    """Insert ``run`` unless a run with its id exists (the database decides: exactly-once creation)."""
    row = _run_row(run)
    stmt = conflict_insert(conn, t.runs).values(row).on_conflict_do_nothing(index_elements=["run_id"])
    inserted = conn.execute(stmt.returning(t.runs.c.run_id)).first()
    if inserted is None:
        return False
    if instances:
        conn.execute(insert(t.task_instances), [_ti_row(ti) for ti in instances])
    return True


def take(store: Store, run_id: str, owner: str, *, now: float, ttl: float, force: bool = False) -> Lease | None:
    """Take the lease of ``run_id`` if it is free (or held by a dead local process); None if someone holds it."""
    with store.engine.begin() as conn:
        return take_in(conn, run_id, owner, now=now, ttl=ttl, force=force)


def take_in(conn: Connection, run_id: str, owner: str, *, now: float, ttl: float, force: bool = False) -> Lease | None:
    runs = t.runs.c
    row = conn.execute(select(runs.lease_owner, runs.lease_epoch).where(runs.run_id == run_id)).first()
    if row is None:
        return None
    held_by, epoch = row
    condition = and_(runs.run_id == run_id, runs.lease_epoch == epoch)
    if not (force or held_by == owner or owner_is_dead(held_by)):
        condition = and_(condition, _claimable(_now(conn, now)))
    result = conn.execute(
        update(t.runs)
        .where(condition)
        .values(lease_owner=owner, lease_epoch=epoch + 1, lease_expires_at=_expiry(conn, now, ttl))
    )
    if result.rowcount != 1:
        return None
    return Lease(run_id, owner, epoch + 1, ttl)


def _fence_statement(dialect: str) -> Any:
    """The renewal every commit of a run's driver makes, built once per dialect (it runs on every commit)."""
    statement = _fences.get(dialect)
    if statement is None:
        runs = t.runs.c
        if dialect == "postgresql":
            expires: Any = func.clock_timestamp(type_=DateTime(timezone=True)) + bindparam("f_ttl", type_=Interval())
        else:
            expires = bindparam("f_expires", type_=DateTime(timezone=True))
        statement = (
            update(t.runs)
            .where(
                runs.run_id == bindparam("f_run_id"),
                runs.lease_owner == bindparam("f_owner"),
                runs.lease_epoch == bindparam("f_epoch"),
            )
            .values(lease_expires_at=expires)
        )
        _fences[dialect] = statement
    return statement


_fences: dict[str, Any] = {}


def fence(conn: Connection, lease: Lease, now: float) -> None:
    """Renew ``lease`` inside the caller's transaction; raise LeaseLost (rolling it back) if it was taken."""
    dialect = conn.dialect.name
    params: dict[str, object] = {"f_run_id": lease.run_id, "f_owner": lease.owner, "f_epoch": lease.epoch}
    if dialect == "postgresql":
        params["f_ttl"] = timedelta(seconds=lease.ttl)
    else:
        params["f_expires"] = to_datetime(now + lease.ttl)
    if conn.execute(_fence_statement(dialect), params).rowcount != 1:
        raise LeaseLost(lease.run_id)


def release(store: Store, lease: Lease) -> None:
    """Give the run back (another process may take it at once)."""
    runs = t.runs.c
    with store.engine.begin() as conn:
        conn.execute(
            update(t.runs)
            .where(runs.run_id == lease.run_id, runs.lease_owner == lease.owner, runs.lease_epoch == lease.epoch)
            .values(lease_owner=None, lease_expires_at=None)
        )


def lock_pipeline(conn: Connection, pipeline_id: str, file: str | None = None) -> datetime | None:
    """Serialise work on one pipeline across schedulers (a row lock); returns its catch-up cursor."""
    p = t.pipelines.c
    result = conn.execute(update(t.pipelines).where(p.pipeline_id == pipeline_id).values(lock=p.lock + 1))
    if result.rowcount == 0:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(
                pg_insert(t.pipelines)
                .values(pipeline_id=pipeline_id, file=file, lock=0, paused=False)
                .on_conflict_do_nothing(index_elements=["pipeline_id"])
            )
        else:
            conn.execute(insert(t.pipelines).prefix_with("OR IGNORE"), {"pipeline_id": pipeline_id, "file": file})
        conn.execute(update(t.pipelines).where(p.pipeline_id == pipeline_id).values(lock=p.lock + 1))
    cursor = conn.execute(select(p.last_interval_end).where(p.pipeline_id == pipeline_id)).scalar()
    if cursor is not None and cursor.tzinfo is None:
        cursor = cursor.replace(tzinfo=UTC)
    return cursor


def set_cursor(conn: Connection, pipeline_id: str, interval_end: datetime) -> None:
    p = t.pipelines.c
    conn.execute(
        update(t.pipelines)
        .where(p.pipeline_id == pipeline_id)
        .values(last_interval_end=interval_end.astimezone(UTC), updated_at=datetime.now(UTC))
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this process now drives; ``resumed`` if another driver had started it."""

    run: RunRecord
    lease: Lease
    resumed: bool


@dataclass(frozen=True, slots=True)
class Limits:
    """How many runs may be active at once: per pipeline (scheduled and manual) and per backfill."""

    max_active_runs: Mapping[str, int]
    backfill_parallelism: Mapping[str, int]


def claim_runs(
    store: Store,
    owner: str,
    *,
    now: float,
    ttl: float,
    limits: Limits,
    pipeline_ids: Sequence[str] | None = None,
    backfill_id: str | None = None,
    max_claims: int = 50,
) -> list[Claim]:
    """Take the leases of runs this process should drive now.

    Orphaned running runs (their lease expired or its holder died) are always
    taken back. Queued runs start while their pipeline has fewer than
    ``max_active_runs`` running runs (backfill runs: fewer than the backfill's
    parallelism). Each pipeline is decided under its row lock, and candidate rows
    are read ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several schedulers
    never take the same run nor overshoot a limit.
    """
    runs = t.runs.c
    query = select(runs.pipeline_id).where(runs.state.in_(ACTIVE_RUN_STATES)).distinct()
    if backfill_id is not None:
        query = query.where(runs.backfill_id == backfill_id)
    wanted = None if pipeline_ids is None else set(pipeline_ids)  # filtered here: an IN list of 1,000 ids is slow
    with store.engine.connect() as conn:
        candidates = sorted(pid for (pid,) in conn.execute(query) if wanted is None or pid in wanted)
    claimed: list[Claim] = []
    for pipeline_id in candidates:
        if len(claimed) >= max_claims:
            break
        with store.engine.begin() as conn:
            lock_pipeline(conn, pipeline_id)
            claimed += _claim_for_pipeline(
                conn, pipeline_id, owner, now, ttl, limits, backfill_id, max_claims - len(claimed)
            )
    return claimed


def _claim_for_pipeline(
    conn: Connection,
    pipeline_id: str,
    owner: str,
    now: float,
    ttl: float,
    limits: Limits,
    backfill_id: str | None,
    room: int,
) -> list[Claim]:
    runs = t.runs.c
    moment = _db_time(conn, now)
    assert moment is not None
    # a backfill's runs start in the order it created them (its strategy); others oldest logical date first
    first = case((runs.lane == "backfill", runs.created_at), else_=runs.logical_date)
    query = (
        select(t.runs)
        .where(runs.pipeline_id == pipeline_id, runs.state.in_(ACTIVE_RUN_STATES))
        .order_by(first, runs.created_at)
    )
    if backfill_id is not None:
        query = query.where(runs.backfill_id == backfill_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = [_run_record(dict(r)) for r in conn.execute(query).mappings()]
    active: dict[str, int] = {}
    for bucket_name, count in _active_counts(conn, pipeline_id):
        active[bucket_name] = count
    out: list[Claim] = []
    for run in rows:
        if len(out) >= room:
            break
        orphan = run.state == "running"
        expired = run.lease_expires_at is None or run.lease_expires_at < moment
        if run.lease_owner is not None and not (expired or owner_is_dead(run.lease_owner)):
            continue  # its holder is alive: it drives (or is about to start) the run
        if not orphan:  # a run that was running already counts among the active ones: it is taken back
            bucket = f"backfill:{run.backfill_id}" if run.lane == "backfill" else "default"
            limit = (
                limits.backfill_parallelism.get(run.backfill_id or "", 1)
                if run.lane == "backfill"
                else limits.max_active_runs.get(pipeline_id, 1)
            )
            if active.get(bucket, 0) >= limit:
                continue
            active[bucket] = active.get(bucket, 0) + 1
        lease = take_in(conn, run.run_id, owner, now=now, ttl=ttl, force=True)  # checked just above
        if lease is None:
            continue
        if not orphan:
            started = to_datetime(now)
            conn.execute(update(t.runs).where(runs.run_id == run.run_id).values(state="running", started_at=started))
            run.state = "running"
            run.started_at = started
        run.lease_owner, run.lease_epoch = owner, lease.epoch
        out.append(Claim(run, lease, orphan))
    return out


def _active_counts(conn: Connection, pipeline_id: str) -> list[tuple[str, int]]:
    runs = t.runs.c
    bucket = func.coalesce(runs.backfill_id, "")
    rows = conn.execute(
        select(runs.lane, bucket, func.count())
        .where(runs.pipeline_id == pipeline_id, runs.state == "running")
        .group_by(runs.lane, bucket)
    ).all()
    return [(f"backfill:{b}" if lane == "backfill" else "default", n) for lane, b, n in rows]


def pending_runs(store: Store, pipeline_ids: Sequence[str], *, backfill_id: str | None = None) -> int:
    """How many runs of these pipelines are queued or running (driven by anyone)."""
    runs = t.runs.c
    query = select(func.count()).where(runs.state.in_(ACTIVE_RUN_STATES), runs.pipeline_id.in_(list(pipeline_ids)))
    if backfill_id is not None:
        query = query.where(runs.backfill_id == backfill_id)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


# -- schedulers ----------------------------------------------------------------------------------
def register_scheduler(store: Store, scheduler_id: str, now: float) -> None:
    host, _, rest = scheduler_id.partition(":")
    moment = to_datetime(now)
    with store.engine.begin() as conn:
        conn.execute(
            insert(t.schedulers),
            {
                "scheduler_id": scheduler_id,
                "host": host,
                "pid": int(rest.partition(":")[0] or 0),
                "started_at": moment,
                "heartbeat_at": moment,
            },
        )


def heartbeat(store: Store, owner: str, now: float) -> None:
    """Record that the scheduler is alive (its run leases are renewed by each run's own commits)."""
    with store.engine.begin() as conn:
        conn.execute(
            update(t.schedulers).where(t.schedulers.c.scheduler_id == owner).values(heartbeat_at=_now(conn, now))
        )


def stop_scheduler(store: Store, owner: str, now: float) -> None:
    """Mark the scheduler stopped and hand back every lease it still holds."""
    runs = t.runs.c
    with store.engine.begin() as conn:
        conn.execute(update(t.runs).where(runs.lease_owner == owner).values(lease_owner=None, lease_expires_at=None))
        conn.execute(
            update(t.schedulers).where(t.schedulers.c.scheduler_id == owner).values(stopped_at=to_datetime(now))
        )
