"""A worker that dies or hangs is detected and its task retried (process executor, real processes)."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import pytest

from headwater.engine.listener import RunSummary
from headwater.engine.run import RunEngine
from headwater.loader.files import load_file
from headwater.store.database import connect
from headwater.store.repository import Store

pytest.importorskip("headwater_process", reason="needs the process executor (headwater-process)")

from headwater_process.executor import ProcessExecutor

PIPELINE = """
import os
import time
from pathlib import Path

from headwater import Pipeline, task

HERE = Path(__file__).resolve().parent


@task(retries=1, retry_delay=0)
def victim(ctx):
    if ctx.try_number == 1:
        (HERE / "pid").write_text(str(os.getpid()))
        while not (HERE / "never").exists():  # until the test stops or kills this process
            time.sleep(0.05)
    return ctx.try_number


with Pipeline("victims"):
    victim()
"""


def _wait_for_pid(folder: Path) -> int:
    deadline = time.monotonic() + 60
    while not (folder / "pid").exists() or not (folder / "pid").read_text():
        if time.monotonic() > deadline:
            pytest.fail("the first try never started")
        time.sleep(0.02)
    return int((folder / "pid").read_text())


def _run(tmp_path: Path, act: str) -> tuple[RunSummary, Store, str]:
    (tmp_path / "victims.py").write_text(textwrap.dedent(PIPELINE), encoding="utf-8")
    [pipeline] = load_file(tmp_path / "victims.py")
    store = Store(connect(f"sqlite:///{tmp_path / 'hw.db'}"))
    executor = ProcessExecutor(parallelism=2, options={"heartbeat_interval": 0.1, "kill_grace": 0.5})
    engine = RunEngine(pipeline, store, executor, heartbeat_timeout=1.0, logs_dir=tmp_path / "logs")
    record = engine.create_run()

    def interfere() -> None:
        pid = _wait_for_pid(tmp_path)
        os.kill(pid, signal.SIGSTOP if act == "hang" else signal.SIGKILL)

    helper = threading.Thread(target=interfere, daemon=True)
    helper.start()
    summary = engine.run(record)
    helper.join(10)
    return summary, store, record.run_id


def test_a_killed_worker_is_detected_and_its_task_retried(tmp_path: Path) -> None:
    summary, store, run_id = _run(tmp_path, "kill")
    try:
        assert summary.ok
        tries = store.tries(run_id, "victim")
        assert [t.state for t in tries] == ["failed", "success"]
        assert "killed by signal 9" in (tries[0].error or "")
    finally:
        store.close()


def test_a_hung_worker_without_heartbeats_is_presumed_dead_and_retried(tmp_path: Path) -> None:
    summary, store, run_id = _run(tmp_path, "hang")
    try:
        assert summary.ok
        tries = store.tries(run_id, "victim")
        assert [t.state for t in tries] == ["failed", "success"]
        assert "no heartbeat" in (tries[0].error or "")
        assert tries[0].heartbeat_at is not None  # heartbeats were recorded while it was alive
        pid = int((tmp_path / "pid").read_text())
        with pytest.raises(ProcessLookupError):  # the stopped process was killed, not left behind
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
    finally:
        store.close()


def test_a_timeout_enforced_by_the_executor_follows_the_tasks_retry_on(tmp_path: Path) -> None:
    """retry_on=ValueError: a try the process executor killed for its timeout is not retried."""
    source = """
    import time
    from headwater import Pipeline, task

    @task(timeout="0.3s", retries=2, retry_on=ValueError)
    def slow(ctx):
        time.sleep(30)

    with Pipeline("slowpoke"):
        slow()
    """
    (tmp_path / "slowpoke.py").write_text(textwrap.dedent(source), encoding="utf-8")
    [pipeline] = load_file(tmp_path / "slowpoke.py")
    store = Store(connect(f"sqlite:///{tmp_path / 'hw.db'}"))
    try:
        engine = RunEngine(pipeline, store, ProcessExecutor(parallelism=1), logs_dir=tmp_path / "logs")
        summary = engine.run(engine.create_run())
        assert not summary.ok
        assert summary.task("slow").tries == 1
        assert "timed out" in (summary.task("slow").error or "")
    finally:
        store.close()
