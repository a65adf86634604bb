"""Pools cap how many tasks use a resource at once; priorities order tasks competing for a slot."""

from __future__ import annotations

import threading

from headwater import Pipeline, PythonOperator, task
from headwater.testing import run_pipeline
from headwater_local.executor import LocalExecutor


class Usage:
    """Counts tasks inside a pool at once; each lingers until ``width`` are inside or no more can come."""

    def __init__(self, total: int, width: int) -> None:
        self.total = total
        self.width = width
        self.active = self.entered = self.peak = 0
        self.cond = threading.Condition()

    def use(self) -> int:
        with self.cond:
            self.active += 1
            self.entered += 1
            self.peak = max(self.peak, self.active)
            self.cond.notify_all()
            # Another task can join while this one holds a slot, unless every task has already started.
            self.cond.wait_for(lambda: self.active >= self.width or self.entered == self.total, timeout=10)
            self.active -= 1
            return self.peak


def test_a_pool_never_runs_more_tasks_than_its_slots() -> None:
    usage = Usage(total=6, width=2)

    @task(pool="api")
    def call_api() -> int:
        return usage.use()

    @task
    def unpooled() -> str:
        return "free"

    with Pipeline("pooled") as p:
        for _ in range(6):
            call_api()
        unpooled()
    result = run_pipeline(p, pools={"api": 2}, executor=LocalExecutor(parallelism=4))
    assert result.ok
    assert len(result.results) == 7
    assert usage.peak == 2  # the pool was used at full width, never beyond


def test_pool_slots_count_against_the_pool() -> None:
    usage = Usage(total=3, width=1)

    @task(pool="db", pool_slots=2)
    def heavy() -> int:
        return usage.use()

    with Pipeline("slots") as p:
        for _ in range(3):
            heavy()
    result = run_pipeline(p, pools={"db": 3}, executor=LocalExecutor(parallelism=4))
    assert result.ok
    assert usage.peak == 1  # two heavy tasks would need 4 of the 3 slots


def test_higher_priority_runs_first_among_independent_tasks() -> None:
    ran: list[str] = []
    with Pipeline("priorities") as p:
        for name, priority in [("low", 1), ("high", 10), ("default", 1), ("mid", 5), ("urgent", 50)]:
            PythonOperator(name, fn=ran.append, args=(name,), priority=priority)
    result = run_pipeline(p, concurrency=1, executor=LocalExecutor(parallelism=1))
    assert result.ok
    assert ran == ["urgent", "high", "mid", "low", "default"]  # ties keep definition order


def test_priority_orders_tasks_waiting_for_a_pool() -> None:
    ran: list[str] = []
    gate = threading.Event()

    def first() -> None:
        ran.append("first")
        gate.wait(10)

    with Pipeline("pool_priorities") as p:
        PythonOperator("first", fn=first, pool="one", priority=100)
        for name, priority in [("b", 1), ("c", 3), ("d", 2)]:
            PythonOperator(name, fn=ran.append, args=(name,), pool="one", priority=priority)
        PythonOperator("release", fn=gate.set)  # no pool: runs beside `first`
    result = run_pipeline(p, pools={"one": 1}, executor=LocalExecutor(parallelism=4))
    assert result.ok
    assert ran == ["first", "c", "d", "b"]
