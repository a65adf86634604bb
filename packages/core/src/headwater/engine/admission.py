"""Admission: how many tries may run at once, per lane, and the pool slots they hold.

Shared by every run a process drives. Task capacity is counted in memory (it is
this process's executor); pool slots are leases in the database, so pools hold
across every scheduler sharing it. A run that could not start a task subscribes
to be woken when capacity or a slot frees up in this process; slots freed by
another process are noticed by the run's periodic re-check.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from headwater.store.pools import PoolLimits, SlotRequest, acquire, sync_pools
from headwater.store.repository import Store

if TYPE_CHECKING:
    from headwater.config.settings import PoolSetting

BACKFILL = "backfill"


def pool_limits(pools: Mapping[str, int | PoolSetting]) -> dict[str, PoolLimits]:
    """Pool sizes from settings: ``{"api": 5}`` or ``{"api": {"slots": 5, "backfill_slots": 2}}``.

    Backfill runs may hold at most ``backfill_slots`` of a pool (default: half, at least one),
    so scheduled runs always find the rest.
    """
    out: dict[str, PoolLimits] = {}
    for name, value in pools.items():
        if isinstance(value, int):
            slots, backfill = value, max(1, value // 2)
        else:
            slots = value["slots"]
            backfill = value.get("backfill_slots", max(1, slots // 2))
        out[name] = PoolLimits(slots=slots, backfill_slots=min(backfill, slots))
    return out


def pool_sizes(pools: Mapping[str, int | PoolSetting]) -> dict[str, int]:
    """Pool name -> slots, from settings in either form."""
    return {name: limits.slots for name, limits in pool_limits(pools).items()}


class Admission:
    """Capacity per lane (in memory) and pool slots (leases in the store), with wake-ups."""

    def __init__(
        self,
        *,
        store: Store,
        owner: str,
        capacity: int | None,
        backfill_capacity: int | None = None,
        pools: Mapping[str, PoolLimits] | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.capacity = capacity
        self.backfill_capacity = backfill_capacity
        self.pools = dict(pools or {})
        self._running = {"default": 0, BACKFILL: 0}
        # runs waiting for capacity (woken one at a time, oldest first) and for pool slots (woken all)
        self._waiters: OrderedDict[str, Callable[[], None]] = OrderedDict()
        self._pool_waiters: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._synced = False

    def try_start(self, lane: str) -> bool:
        """Count one more running try in ``lane`` if capacity allows."""
        with self._lock:
            total = sum(self._running.values())
            if self.capacity is not None and total >= self.capacity:
                return False
            limit = self.backfill_capacity if lane == BACKFILL else None
            if limit is not None and self._running[BACKFILL] >= limit:
                return False
            self._running[lane] = self._running.get(lane, 0) + 1
            return True

    def finished(self, lane: str, *, wake: bool = True) -> None:
        """A try of ``lane`` ended (or never started): its capacity is free again (one waiting run is woken)."""
        with self._lock:
            self._running[lane] -= 1
        if wake:
            self.pass_on()

    def pass_on(self) -> None:
        """Wake the longest-waiting run if there is capacity for it.

        A woken run that no longer needs the capacity calls this again (from its next
        dispatch), so a free slot is never left idle while another run waits.
        """
        with self._lock:
            total = sum(self._running.values())
            if not self._waiters or (self.capacity is not None and total >= self.capacity):
                return
            _, callback = self._waiters.popitem(last=False)
        callback()

    def acquire_slots(self, requests: Sequence[SlotRequest], now: float) -> list[SlotRequest]:
        """Lease pool slots for as many requests as fit (one transaction)."""
        if not requests:
            return []
        if not self._synced:
            sync_pools(self.store, self.pools)
            self._synced = True
        return acquire(self.store, self.owner, requests, now, self.pools)

    def slots_released(self) -> None:
        """Slots were given back (their release is committed): wake the runs waiting for them."""
        with self._lock:
            waiters = list(self._pool_waiters.values())
        for callback in waiters:
            callback()

    def subscribe(self, run_id: str, wake: Callable[[], None], *, pools: bool = False) -> None:
        """Wake ``run_id`` when capacity (or, with ``pools``, a pool slot) frees up; capacity wake-ups are one-shot."""
        with self._lock:
            if pools:
                self._pool_waiters[run_id] = wake
            elif run_id not in self._waiters:
                self._waiters[run_id] = wake

    def unsubscribe(self, run_id: str) -> None:
        with self._lock:
            self._waiters.pop(run_id, None)
            self._pool_waiters.pop(run_id, None)
