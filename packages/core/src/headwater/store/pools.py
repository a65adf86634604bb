"""Pool slots as leases: a row per running try that holds slots, with a visible holder.

A slot is taken when a try is dispatched and given back in the same transaction
that records the try's end, so it is never leaked by a finished task. A slot
whose holder died (the process driving the run is gone) is reclaimed when its
run is taken over (:func:`release_run`) or its owner is reaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, tuple_, update

from headwater.store import tables as t
from headwater.store.records import to_datetime, to_timestamp
from headwater.store.repository import Store


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """A pool's size, and how many of its slots backfill runs may hold at once."""

    slots: int
    backfill_slots: int


@dataclass(frozen=True, slots=True)
class SlotRequest:
    run_id: str
    task_id: str
    try_number: int
    pool: str
    slots: int
    lane: str


@dataclass(frozen=True, slots=True)
class SlotHolder:
    run_id: str
    task_id: str
    try_number: int
    slots: int
    lane: str
    owner: str
    acquired_at: float | None


def sync_pools(store: Store, pools: Mapping[str, PoolLimits]) -> None:
    """Make the pool table match the configuration (sizes may change between restarts)."""
    p = t.pools.c
    with store.engine.begin() as conn:
        existing = {name for (name,) in conn.execute(select(p.name))}
        for name, limits in pools.items():
            values = {"slots": limits.slots, "backfill_slots": limits.backfill_slots}
            if name in existing:
                conn.execute(update(t.pools).where(p.name == name).values(values))
            else:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(t.pools), {"name": name, "lock": 0, **values})
                except Exception:  # another scheduler inserted it first
                    conn.execute(update(t.pools).where(p.name == name).values(values))


def acquire(
    store: Store, owner: str, requests: Sequence[SlotRequest], now: float, limits: Mapping[str, PoolLimits]
) -> list[SlotRequest]:
    """Grant as many ``requests`` as fit, in order, and record their leases (one transaction)."""
    granted: list[SlotRequest] = []
    s = t.pool_slots.c
    with store.engine.begin() as conn:
        for pool in sorted({r.pool for r in requests}):
            # Lock the pool's row first: on PostgreSQL a row lock, on SQLite the write lock.
            conn.execute(update(t.pools).where(t.pools.c.name == pool).values(lock=t.pools.c.lock + 1))
            used = dict(conn.execute(select(s.lane, func.sum(s.slots)).where(s.pool == pool).group_by(s.lane)).all())
            total = sum(int(v) for v in used.values())
            backfill = int(used.get("backfill", 0))
            limit = limits[pool]
            rows = []
            for request in (r for r in requests if r.pool == pool):
                if total + request.slots > limit.slots:
                    continue
                if request.lane == "backfill" and backfill + request.slots > limit.backfill_slots:
                    continue
                total += request.slots
                if request.lane == "backfill":
                    backfill += request.slots
                granted.append(request)
                rows.append(
                    {
                        "run_id": request.run_id,
                        "task_id": request.task_id,
                        "try_number": request.try_number,
                        "pool": pool,
                        "slots": request.slots,
                        "lane": request.lane,
                        "owner": owner,
                        "acquired_at": to_datetime(now),
                    }
                )
            if rows:
                conn.execute(insert(t.pool_slots), rows)
    return granted


def release_in(conn: Connection, keys: Sequence[tuple[str, str, int]]) -> None:
    """Give back the slots of these tries (inside the transaction recording their end)."""
    s = t.pool_slots.c
    conn.execute(delete(t.pool_slots).where(tuple_(s.run_id, s.task_id, s.try_number).in_(list(keys))))


def release_run(store: Store, run_id: str) -> None:
    """Give back every slot a run holds (its driver died; the new driver starts clean)."""
    with store.engine.begin() as conn:
        conn.execute(delete(t.pool_slots).where(t.pool_slots.c.run_id == run_id))


def holders(store: Store, pool: str) -> list[SlotHolder]:
    s = t.pool_slots.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(s.run_id, s.task_id, s.try_number, s.slots, s.lane, s.owner, s.acquired_at)
            .where(s.pool == pool)
            .order_by(s.acquired_at)
        ).all()
    return [SlotHolder(r[0], r[1], r[2], r[3], r[4], r[5], to_timestamp(r[6])) for r in rows]
