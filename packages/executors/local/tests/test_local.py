"""What the local executor promises beyond the common contract: its bound, its pool, its clean-up."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from headwater import BashOperator, Pipeline, task
from headwater.plugin import EventKind
from headwater.testing import run_pipeline
from headwater.testing.conformance import ExecutorHarness, pipeline_file
from headwater_local.executor import LocalExecutor

TIMEOUT = 30.0  # a guard against hangs, never a timing assertion

# `occupy` tries hold their thread until the test opens `gate`, counting how many run at once;
# `together` tries meet at a barrier, so they succeed only if two of them run at once.
POOL_PIPELINE = """
import threading
import time

from headwater import BashOperator, Pipeline, task

meet = threading.Barrier(2, timeout=30)
gate = threading.Event()
release = threading.Event()
entered = threading.Semaphore(0)  # released by `stuck` and `spin` once the task code runs
changed = threading.Condition()
running = 0
peak = 0


@task
def occupy():
    global running, peak
    with changed:
        running += 1
        peak = max(peak, running)
        changed.notify_all()
    try:
        if not gate.wait(30):
            raise TimeoutError("the test never opened the gate")
    finally:
        with changed:
            running -= 1


@task
def together():
    meet.wait()  # BrokenBarrierError (the try fails) unless enough tries run at once


@task
def stuck():
    # Blocks in C, deaf to ctx.cancelled: only the abandoned-thread policy frees its slot.
    entered.release()
    release.wait(60)
    return "released"


@task
def spin(ctx):
    # Pure Python, deaf to ctx.cancelled: only the asynchronous TaskCancelled stops it.
    entered.release()
    deadline = time.monotonic() + ctx.params.get("seconds", 30)
    while time.monotonic() < deadline:
        pass
    return "done spinning"


with Pipeline("conf") as p:
    occupy()
    together()
    stuck()
    spin()
    BashOperator("sleeper", command="sh -c 'sleep 300; : {marker}' & wait")
"""


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., ExecutorHarness]]:
    """``start(executor, marker=...)``: the executor started on the pool pipeline, shut down afterwards."""
    started: list[ExecutorHarness] = []

    def _start(executor: LocalExecutor, *, marker: str = "unused") -> ExecutorHarness:
        path = pipeline_file(tmp_path, POOL_PIPELINE.format(marker=marker))
        harness = ExecutorHarness(executor, path, workdir=tmp_path, timeout=TIMEOUT)
        executor.start(harness.emit)
        started.append(harness)
        return harness

    yield _start
    for harness in started:
        module = _module_globals(harness)
        for name in ("gate", "release"):
            module[name].set()  # free any thread still held
        harness.executor.shutdown(wait=False)


def _module_globals(harness: ExecutorHarness) -> dict[str, Any]:
    """The loaded pipeline module's globals (its counters and events live there)."""
    from headwater.loader.files import load_pipeline

    op = load_pipeline(harness.pipeline, "conf").tasks["stuck"]
    return op.fn.__globals__  # type: ignore[attr-defined,no-any-return]


def _wait_entered(harness: ExecutorHarness, count: int) -> None:
    """Wait until ``count`` tries run their task code (the asynchronous stop then lands inside it)."""
    entered: threading.Semaphore = _module_globals(harness)["entered"]
    for n in range(count):
        assert entered.acquire(timeout=TIMEOUT), f"only {n} of {count} tries began"


def _pgrep(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False).returncode == 0


def _eventually(check: Callable[[], bool], within: float = TIMEOUT) -> bool:
    """Poll ``check`` until it holds (True) or ``within`` seconds pass (False)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_never_more_tries_at_once_than_parallelism(start: Callable[..., ExecutorHarness]) -> None:
    harness = start(LocalExecutor(parallelism=3))
    module = _module_globals(harness)
    changed: threading.Condition = module["changed"]
    keys = [harness.submit("occupy", run_id=f"r{n}") for n in range(12)]
    with changed:  # three tries hold their threads: the pool is full
        assert changed.wait_for(lambda: module["running"] >= 3, timeout=TIMEOUT), f"running: {module['running']}"
    harness.drain()
    assert sum(kinds.count(EventKind.STARTED) for kinds in map(harness.kinds, keys)) == 3, "a 4th try started"
    module["gate"].set()
    events = [harness.final(key) for key in keys]
    assert [e.kind for e in events] == [EventKind.SUCCEEDED] * 12, [e.error for e in events]
    assert module["peak"] == 3


def test_a_cancelled_thread_is_replaced_so_the_pool_keeps_its_capacity(
    start: Callable[..., ExecutorHarness],
) -> None:
    executor = LocalExecutor(parallelism=2, options={"cancel_grace": 0})
    harness = start(executor)
    stuck = [harness.submit("stuck", run_id=f"stuck{n}") for n in range(2)]
    _wait_entered(harness, 2)
    for key in stuck:
        executor.cancel(key)
    # Both original threads are still blocked, yet two tries run at once (they meet at the barrier).
    fresh = [harness.submit("together", run_id=f"fresh{n}") for n in range(2)]
    assert [harness.final(key).kind for key in fresh] == [EventKind.SUCCEEDED] * 2
    assert executor.check_health().healthy
    _module_globals(harness)["release"].set()
    for key in stuck:
        event = harness.final(key)
        assert event.kind == EventKind.FAILED, "a cancelled try reported success once it got unstuck"


def test_a_pure_python_try_deaf_to_ctx_is_stopped_after_the_grace(start: Callable[..., ExecutorHarness]) -> None:
    executor = LocalExecutor(parallelism=1, options={"cancel_grace": 0})
    harness = start(executor)
    key = harness.submit("spin")
    _wait_entered(harness, 1)
    executor.cancel(key)
    event = harness.final(key)
    assert event.kind == EventKind.FAILED and event.error_type == "TaskCancelled", event


def test_cancel_grace_must_be_a_number_of_seconds() -> None:
    with pytest.raises(ValueError, match="cancel_grace"):
        LocalExecutor(options={"cancel_grace": "soon"})


def test_cancelling_a_bash_try_kills_its_processes(start: Callable[..., ExecutorHarness]) -> None:
    marker = f"hw-local-{uuid.uuid4().hex}"
    executor = LocalExecutor(parallelism=2, options={"cancel_grace": TIMEOUT})  # the cooperative stop alone
    harness = start(executor, marker=marker)
    key = harness.submit("sleeper")
    harness.wait_for(key, frozenset({EventKind.STARTED}))
    assert _eventually(lambda: _pgrep(marker)), "the command never started"
    executor.cancel(key)
    assert _eventually(lambda: not _pgrep(marker)), "a process of the cancelled command survived"
    event = harness.final(key)
    assert event.kind == EventKind.FAILED, event


def test_a_worker_error_is_reported_and_the_pool_keeps_working(
    start: Callable[..., ExecutorHarness], tmp_path: Path
) -> None:
    executor = LocalExecutor(parallelism=1)
    harness = start(executor)
    (tmp_path / "not-a-dir").write_text("")
    broken = replace(
        harness.submission("spin", params={"seconds": 0}), log_path=str(tmp_path / "not-a-dir" / "try.log")
    )
    executor.submit(broken)
    harness.final(broken.key)  # whatever the outcome, the try is not lost
    key = harness.submit("spin", params={"seconds": 0})
    assert harness.final(key).kind == EventKind.SUCCEEDED
    assert executor.check_health().healthy


def test_an_executor_can_be_started_again_after_shutdown(start: Callable[..., ExecutorHarness]) -> None:
    executor = LocalExecutor(parallelism=2)
    for _ in range(2):
        harness = start(executor)
        keys = [harness.submit("together", run_id=f"r{n}") for n in range(4)]
        assert [harness.final(key).kind for key in keys] == [EventKind.SUCCEEDED] * 4
        executor.shutdown(wait=False)


# -- through the engine -------------------------------------------------------------------


@task
def numbers() -> list[int]:
    return [1, 2, 3, 4]


@task
def scale(values: list[int], index: int) -> int:
    return values[index] * 10


@task
def total(parts: list[int]) -> int:
    return sum(parts)


def test_fan_out_fan_in_through_the_engine() -> None:
    with Pipeline("local_fan") as p:
        source = numbers()
        total([scale(source, i) for i in range(4)])
    result = run_pipeline(p, executor=LocalExecutor(parallelism=4))
    assert result.ok, result.summary
    assert result.results["total"] == 100
    assert [result.results[t] for t in ("scale", "scale__2", "scale__3", "scale__4")] == [10, 20, 30, 40]
    assert {t.task_id: t.state for t in result.summary.tasks} == {
        "numbers": "success",
        "scale": "success",
        "scale__2": "success",
        "scale__3": "success",
        "scale__4": "success",
        "total": "success",
    }


def test_one_executor_serves_two_runs() -> None:
    executor = LocalExecutor(parallelism=2)
    with Pipeline("local_twice") as p:
        total([scale(numbers(), 0), scale(numbers(), 3)])
    assert [run_pipeline(p, executor=executor).results["total"] for _ in range(2)] == [50, 50]


def test_a_bash_task_over_its_timeout_is_stopped_and_the_run_goes_on() -> None:
    marker = f"hw-local-{uuid.uuid4().hex}"
    with Pipeline("local_timeout") as p:
        BashOperator("slow", command=f"sleep 300; : {marker}", timeout=0.5)
        BashOperator("quick", command="echo done")
    result = run_pipeline(p, executor=LocalExecutor(parallelism=2))
    assert result.task_state("quick") == "success"
    assert result.results["quick"] == "done"
    slow = result.summary.task("slow")
    assert slow.state == "failed" and slow.error is not None and "timed out" in slow.error
    assert _eventually(lambda: not _pgrep(marker)), "the timed-out command survived"
