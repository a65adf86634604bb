"""one_success and one_failed fire while other upstream tasks are still running (needs a concurrent executor)."""

from __future__ import annotations

import threading

import pytest

from headwater import Pipeline, task
from headwater.testing import run_pipeline
from headwater_local.executor import LocalExecutor


@task
def ok() -> str:
    return "ok"


@task
def fail() -> None:
    raise RuntimeError("upstream failed")


UPSTREAM = {"ok": ok, "fail": fail}


@pytest.mark.parametrize(("rule", "first"), [("one_success", "ok"), ("one_failed", "fail")])
def test_one_success_and_one_failed_fire_without_waiting_for_the_rest(rule: str, first: str) -> None:
    released = threading.Event()

    @task
    def slow() -> bool:
        return released.wait(10)  # True only if `react` ran while this was still running

    @task
    def react() -> None:
        released.set()

    with Pipeline(f"fire_{rule}") as p:
        [UPSTREAM[first](), slow()] >> react.with_options(trigger_rule=rule)()
    result = run_pipeline(p, executor=LocalExecutor(parallelism=4))
    assert result.task_state("react") == "success"
    assert result.results["slow"] is True
