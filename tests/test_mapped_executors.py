"""Mapped tasks on real executors: ``max_parallel`` on the local thread pool, instances in separate processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from headwater import Pipeline, task
from headwater.store.database import connect
from headwater.store.repository import Store
from headwater.testing import run_pipeline

WAIT_LIMIT = 30.0  # seconds: a guard against hangs, never a timing assertion


def test_max_parallel_bounds_the_instances_running_at_once_on_the_local_executor() -> None:
    local = pytest.importorskip("headwater_local.executor", reason="needs the local executor (headwater-local)")
    lock = threading.Lock()
    running = {"now": 0, "peak": 0}
    pair = threading.Barrier(2, timeout=WAIT_LIMIT)  # two instances must be running together to pass it

    @task
    def work(x: int) -> int:
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        try:
            pair.wait()
        finally:
            with lock:
                running["now"] -= 1
        return x * x

    with Pipeline("limited") as p:
        work.map(list(range(10)), max_parallel=2)
    result = run_pipeline(p, executor=local.LocalExecutor(parallelism=8))
    assert result.ok, result.summary
    assert result.results["work"] == [x * x for x in range(10)]
    assert running["peak"] == 2  # 8 threads were free: only max_parallel held the other instances back


PIPELINE = """
import os

from headwater import Pipeline, task, unmapped


@task
def batches():
    return [[1, 2], [3], [4, 5, 6]]


@task
def load(batch, table):
    return {"table": table, "rows": sum(batch), "pid": os.getpid()}


@task
def summary(loaded):
    return {"rows": [r["rows"] for r in loaded], "processes": len({r["pid"] for r in loaded} | {os.getpid()})}


with Pipeline("mapped_processes"):
    summary(load.map(batches(), table=unmapped("facts")))
"""


def test_mapped_instances_run_in_their_own_processes(tmp_path: Path) -> None:
    pytest.importorskip("headwater_process", reason="needs the process executor (headwater-process)")
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "headwater.toml").write_text('executor = "process"\nconcurrency = 2\n', encoding="utf-8")
    (root / "pipelines" / "mapped.py").write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    command = [str(Path(sys.executable).parent / "headwater"), "--project", str(root), "run", "mapped_processes", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "load[0..2]" in done.stdout and "3 success" in done.stdout

    store = Store(connect(f"sqlite:///{root / '.headwater' / 'headwater.db'}"))
    try:
        (run,) = store.list_runs("mapped_processes")
        results = {task_id: value for task_id, (_, value) in store.results(run.run_id).items()}
        states = {ti.task_id: ti.state for ti in store.task_instances(run.run_id)}
    finally:
        store.close()
    assert json.loads(results["summary"]) == {"rows": [3, 3, 15], "processes": 4}  # 3 instances + the summary
    assert json.loads(results["load[2]"])["table"] == "facts"
    assert states == dict.fromkeys(["batches", "load", "load[0]", "load[1]", "load[2]", "summary"], "success")
