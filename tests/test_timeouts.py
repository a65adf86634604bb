"""Timeouts stop a try, inline (main thread) and on the local executor, child processes included."""

from __future__ import annotations

import random
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater import BashOperator, Pipeline, task
from headwater.executors.base import Executor
from headwater.model.context import Context
from headwater.testing import run_pipeline
from headwater_local.executor import LocalExecutor


@task
def blocks(ctx: Context) -> str:
    ctx.wait(30)
    return "should not get here"


EXECUTORS: dict[str, Callable[[], Executor | str]] = {
    "inline": lambda: "inline",
    "local": lambda: LocalExecutor(parallelism=4),
}


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_a_try_over_its_timeout_fails(executor: str) -> None:
    with Pipeline(f"timeout_{executor}") as p:
        blocks.with_options(timeout=0.3, retries=0)() >> BashOperator("after", command="true")
    result = run_pipeline(p, executor=EXECUTORS[executor]())
    assert result.state == "failed"
    summary = result.summary.task("blocks")
    assert summary.state == "failed"
    assert summary.error is not None and "timed out" in summary.error
    assert result.task_state("after") == "upstream_failed"
    [attempt] = result.tries["blocks"]
    assert attempt.state == "failed"
    assert attempt.error is not None and "timed out" in attempt.error


@pytest.mark.parametrize("executor", list(EXECUTORS))
def test_a_timed_out_try_is_retried_when_timeouts_are_retryable(executor: str) -> None:
    with Pipeline(f"timeout_retry_{executor}") as p:
        blocks.with_options(timeout=0.2, retries=1, retry_on=TimeoutError)()
    result = run_pipeline(p, executor=EXECUTORS[executor]())
    assert result.task_state("blocks") == "failed"
    assert [t.state for t in result.tries["blocks"]] == ["failed", "failed"]


def _running(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False).returncode == 0


def _eventually_false(check: Callable[[], bool], within: float = 10.0) -> bool:
    """Poll ``check`` until it is false (True) or ``within`` seconds pass (False)."""
    deadline = time.monotonic() + within
    while check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_bash_timeout_kills_the_command_and_its_children(tmp_path: Path) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    sleep_arg = f"30.{random.randrange(10**8):08d}"  # makes the `sleep` child itself findable
    with Pipeline("bash_timeout") as p:
        BashOperator("sleepy", command=f"sleep {sleep_arg}; echo {marker}", timeout=0.5, retries=0)
    # workdir: the abandoned try still writes its log after the run returns
    result = run_pipeline(p, executor=LocalExecutor(parallelism=4), workdir=tmp_path)
    assert result.state == "failed"
    summary = result.summary.task("sleepy")
    assert summary.state == "failed"
    assert summary.error is not None and "timed out" in summary.error
    # The abandoned worker thread kills the process group as it unwinds: wait for that, bounded.
    assert _eventually_false(lambda: _running(f"sleep {sleep_arg}")), "the sleep child survived the timeout"
    assert _eventually_false(lambda: _running(marker)), "the bash process survived the timeout"
