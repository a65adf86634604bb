"""Pools without deadlock, critical-path priorities, and fencing of superseded tries and drivers."""

from __future__ import annotations

import heapq
import itertools
import queue
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from headwater import Context, Pipeline, PythonOperator, TaskCancelled, task
from headwater.builtins.sensors import FileSensor
from headwater.engine.clock import FakeClock
from headwater.engine.run import RunEngine
from headwater.executors.base import EventKind, EventSink, Executor, ExecutorHealth, TaskEvent, TaskKey, TaskSubmission
from headwater.loader.files import remember
from headwater.store.database import connect
from headwater.store.leases import take
from headwater.store.records import LeaseLost
from headwater.store.repository import Store
from headwater.testing import run_pipeline
from headwater_local.executor import LocalExecutor

T = TypeVar("T")


def test_the_seed_pool_deadlock_cannot_happen_with_reschedule_sensors(tmp_path: Path) -> None:
    """Pool of 5 slots, 5 sensors waiting on B's output, B needing a slot of the same pool."""
    ready = tmp_path / "b.done"

    @task(pool="db")
    def b() -> str:
        ready.write_text("done")
        return "written"

    with Pipeline("seed_deadlock") as p:
        for i in range(5):
            FileSensor(f"a{i}", path=str(ready), pool="db", mode="reschedule", poke_interval="10s", wait_timeout="1h")
        b()
    result = run_pipeline(p, pools={"db": 5}, executor=LocalExecutor(parallelism=8), clock=FakeClock(), concurrency=8)
    assert result.ok, result.summary
    assert result.results["b"] == "written"
    assert all(result.results[f"a{i}"] == [str(ready)] for i in range(5))
    # Sensors that poked before B ran gave their slot back between pokes: more than one try each,
    # none of them a failure.
    pokes = [t for i in range(5) for t in result.tries[f"a{i}"]]
    assert {t.state for t in pokes} <= {"up_for_reschedule", "success"}


def test_a_reschedule_sensor_still_honours_its_wait_timeout(tmp_path: Path) -> None:
    with Pipeline("never") as p:
        FileSensor("wait", path=str(tmp_path / "never"), mode="reschedule", poke_interval="1m", wait_timeout="5m")
    result = run_pipeline(p, clock=FakeClock())
    assert not result.ok
    assert "SensorTimeout" in (result.summary.task("wait").error or "")
    assert len(result.tries["wait"]) >= 5  # it kept poking, a minute apart, until the five minutes ran out


# -- priorities ---------------------------------------------------------------------------------------------
class SimulatedExecutor(Executor):
    """Runs nothing: each try "takes" a given number of seconds of a simulated clock (a real Executor)."""

    name = "simulated"

    def __init__(self, durations: Mapping[str, float], clock: SimulatedClock, parallelism: int) -> None:
        super().__init__(parallelism=parallelism)
        self.durations = durations
        self.clock = clock
        self.running: list[tuple[float, int, TaskKey]] = []
        self.emit: EventSink | None = None
        self.started: list[str] = []
        clock.executor = self

    def start(self, emit: EventSink) -> None:
        self.emit = emit

    def submit(self, submission: TaskSubmission) -> None:
        assert self.emit is not None
        key = submission.key
        self.started.append(key.task_id)
        self.emit(TaskEvent(key=key, kind=EventKind.STARTED, at=self.clock.now()))
        heapq.heappush(self.running, (self.clock.now() + self.durations[key.task_id], len(self.started), key))

    def finish_next(self) -> bool:
        if not self.running or self.emit is None:
            return False
        end, _, key = heapq.heappop(self.running)
        self.clock.current = max(self.clock.current, end)
        self.emit(TaskEvent(key=key, kind=EventKind.SUCCEEDED, at=end))
        return True

    def check_health(self) -> ExecutorHealth:
        return ExecutorHealth(True)

    def cancel(self, key: TaskKey) -> None:
        self.running = [r for r in self.running if r[2] != key]
        heapq.heapify(self.running)


class SimulatedClock(FakeClock):
    """When the engine waits for running tries, the simulated executor finishes the next one."""

    executor: SimulatedExecutor

    def wait(self, events: queue.SimpleQueue[T], timeout: float | None, *, idle: bool) -> T | None:
        try:
            return events.get_nowait()
        except queue.Empty:
            pass
        if not idle and self.executor.finish_next():
            return events.get_nowait()
        return super().wait(events, timeout, idle=idle)


def _makespan(policy: str, tmp_path: Path) -> tuple[float, list[str]]:
    """An unbalanced graph on 2 workers: six short independent tasks, defined first, and a 4-task chain."""
    durations = {f"short{i}": 10.0 for i in range(6)} | {f"chain{i}": 10.0 for i in range(4)}

    def noop(ctx: object) -> None:
        return None

    with Pipeline(f"unbalanced_{policy}") as p:
        for i in range(6):
            PythonOperator(f"short{i}", fn=noop)
        chain = [PythonOperator(f"chain{i}", fn=noop) for i in range(4)]
        for up, down in itertools.pairwise(chain):
            up >> down
    remember(p)
    clock = SimulatedClock(start=1_000_000.0)
    executor = SimulatedExecutor(durations, clock, parallelism=2)
    store = Store(connect(f"sqlite:///{tmp_path / f'{policy}.db'}"))
    try:
        engine = RunEngine(p, store, executor, clock=clock, durations=durations, priority_policy=policy)
        record = engine.create_run()
        summary = engine.run(record)
    finally:
        store.close()
    assert summary.ok
    return clock.now() - 1_000_000.0, executor.started


def test_critical_path_priority_shortens_the_makespan_of_an_unbalanced_graph(tmp_path: Path) -> None:
    critical, order = _makespan("critical_path", tmp_path)
    fifo, fifo_order = _makespan("fifo", tmp_path)
    assert order[0] == "chain0"  # the longest remaining path starts first
    assert fifo_order[:2] == ["short0", "short1"]  # FIFO: in the order tasks became ready
    assert critical == 50.0  # 10 tasks of 10 s on 2 workers: the chain never waits
    assert fifo == 70.0  # the chain starts only after the short tasks
    assert critical < fifo


def test_explicit_priority_wins_over_the_critical_path(tmp_path: Path) -> None:
    order: list[str] = []

    @task
    def long_a(ctx: object) -> None:
        order.append("long_a")

    @task
    def long_b(ctx: object) -> None:
        order.append("long_b")

    @task(priority=10)
    def urgent(ctx: object) -> None:
        order.append("urgent")

    with Pipeline("prio") as p:
        long_a() >> long_b()
        urgent()
    result = run_pipeline(p)  # inline: one task at a time
    assert result.ok
    assert order[0] == "urgent"


# -- fencing -------------------------------------------------------------------------------------------------
def test_a_driver_that_lost_its_lease_cannot_write(tmp_path: Path) -> None:
    """Another process took the run over: every later write of the old driver is refused."""

    @task
    def one() -> int:
        return 1

    with Pipeline("fenced") as p:
        one()
    remember(p)
    store = Store(connect(f"sqlite:///{tmp_path / 'hw.db'}"))
    try:
        clock = FakeClock()
        engine = RunEngine(p, store, LocalExecutor(parallelism=1), clock=clock, lease_ttl=60)
        record = engine.create_run()
        successor = take(store, record.run_id, "elsewhere:1:abc", now=clock.now(), ttl=60, force=True)
        assert successor is not None and successor.epoch == 2
        with pytest.raises(LeaseLost):
            engine.run(record)
        [ti] = store.task_instances(record.run_id)
        assert ti.state == "scheduled" and ti.try_number == 0  # nothing the old driver did was written
        assert store.tries(record.run_id) == []
    finally:
        store.close()


def test_a_late_result_from_a_timed_out_try_is_rejected() -> None:
    """Try 1 times out and is abandoned; its late success must not overwrite try 2's outcome."""
    import threading

    gate = threading.Event()
    calls: list[int] = []

    @task(timeout="0.2s", retries=1)
    def slow(ctx: object) -> str:
        calls.append(1)
        if len(calls) == 1:
            gate.wait(5)  # ignores cancellation, then "succeeds" late
            return "late"
        gate.set()
        raise ValueError("second try fails")

    with Pipeline("zombie_result") as p:
        slow()
    result = run_pipeline(p, executor=LocalExecutor(parallelism=2, options={"cancel_grace": 30.0}))
    assert not result.ok
    states = [(t.try_number, t.state) for t in result.tries["slow"]]
    assert states == [(1, "failed"), (2, "failed")]
    assert "second try fails" in (result.summary.task("slow").error or "")


def test_a_run_over_its_timeout_is_failed_and_its_tasks_stopped() -> None:
    stopped: list[bool] = []

    @task
    def endless(ctx: Context) -> None:
        try:
            ctx.wait(60)
        except TaskCancelled:  # raised at once when the try is stopped
            stopped.append(True)
            raise

    @task
    def never(ctx: Context) -> None:
        raise AssertionError("must not run")

    with Pipeline("run_timeout", timeout="1s") as p:
        endless() >> never()
    result = run_pipeline(p, executor=LocalExecutor(parallelism=2))
    assert not result.ok
    assert result.summary.task("endless").state == "failed"
    assert "the run timed out after 1s" in (result.summary.task("endless").error or "")
    assert result.summary.task("never").state == "upstream_failed"
    deadline = time.monotonic() + 10
    while not stopped and time.monotonic() < deadline:  # the stop reaches the thread asynchronously
        time.sleep(0.01)
    assert stopped == [True]
