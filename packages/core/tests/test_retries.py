"""Retries: backoff delays (on a fake clock), retry_on, and the record of every try."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from headwater import Pipeline, Retry, task
from headwater.model.context import Context
from headwater.testing import FakeClock, TestRun, run_pipeline


def _flaky(failures: int, error: type[Exception] = ConnectionError) -> Callable[[Context], int]:
    """A task body that fails its first ``failures`` tries, then returns the try number."""

    def body(ctx: Context) -> int:
        if ctx.try_number <= failures:
            raise error(f"try {ctx.try_number} failed")
        return ctx.try_number

    return body


def _queued_gaps(result: TestRun, task_id: str) -> list[float]:
    queued = [t.queued_at or 0.0 for t in result.tries[task_id]]
    return [b - a for a, b in itertools.pairwise(queued)]


def test_exponential_backoff_waits_double_each_time() -> None:
    flaky = task(_flaky(3)).with_options(id="flaky", retries=3, retry_delay=60, retry_backoff=True)
    with Pipeline("backoff") as p:
        flaky()
    clock = FakeClock()
    result = run_pipeline(p, clock=clock)
    assert result.ok
    assert result.results["flaky"] == 4
    assert clock.waited == [60.0, 120.0, 240.0]
    assert _queued_gaps(result, "flaky") == [60.0, 120.0, 240.0]
    summary = result.summary.task("flaky")
    assert summary.tries == 4


def test_max_retry_delay_caps_the_backoff() -> None:
    flaky = task(_flaky(4)).with_options(
        id="capped", retries=4, retry_delay="1m", retry_backoff=True, max_retry_delay="100s"
    )
    with Pipeline("capped_backoff") as p:
        flaky()
    clock = FakeClock()
    assert run_pipeline(p, clock=clock).ok
    assert clock.waited == [60.0, 100.0, 100.0, 100.0]


def test_constant_delay_without_backoff() -> None:
    flaky = task(_flaky(2)).with_options(id="steady", retries=2, retry_delay="90s")
    with Pipeline("constant") as p:
        flaky()
    clock = FakeClock()
    assert run_pipeline(p, clock=clock).ok
    assert clock.waited == [90.0, 90.0]


def test_every_try_is_recorded_with_its_state_and_error() -> None:
    flaky = task(_flaky(5)).with_options(id="doomed", retries=2, retry_delay=10)
    with Pipeline("exhausted") as p:
        flaky()
    result = run_pipeline(p, clock=FakeClock())
    assert result.state == "failed"
    tries = result.tries["doomed"]
    assert [t.try_number for t in tries] == [1, 2, 3]
    assert [t.state for t in tries] == ["failed", "failed", "failed"]
    assert [t.error for t in tries] == [f"ConnectionError: try {n} failed" for n in (1, 2, 3)]
    summary = result.summary.task("doomed")
    assert (summary.state, summary.tries) == ("failed", 3)
    assert summary.error == "ConnectionError: try 3 failed"


def test_a_success_after_failures_keeps_the_failed_tries() -> None:
    flaky = task(_flaky(1)).with_options(id="once", retries=1)
    with Pipeline("recovered") as p:
        flaky()
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    assert [(t.state, t.error) for t in result.tries["once"]] == [
        ("failed", "ConnectionError: try 1 failed"),
        ("success", None),
    ]


def test_exception_outside_retry_on_fails_at_once() -> None:
    flaky = task(_flaky(1, ValueError)).with_options(
        id="picky", retries=3, retry_delay=60, retry_on=(ConnectionError, TimeoutError)
    )
    with Pipeline("not_retryable") as p:
        flaky()
    clock = FakeClock()
    result = run_pipeline(p, clock=clock)
    assert result.task_state("picky") == "failed"
    assert len(result.tries["picky"]) == 1
    assert clock.waited == []


def test_exception_in_retry_on_is_retried() -> None:
    flaky = task(_flaky(1, ConnectionError)).with_options(
        id="picky", retries=3, retry_delay=60, retry_on=ConnectionError
    )
    with Pipeline("retryable") as p:
        flaky()
    result = run_pipeline(p, clock=FakeClock())
    assert result.ok
    assert len(result.tries["picky"]) == 2


def test_default_args_retries_apply() -> None:
    flaky = task(_flaky(2)).with_options(id="inherits")
    with Pipeline("default_retries", default_args={"retries": 2, "retry_delay": "5m"}) as p:
        flaky()
    clock = FakeClock()
    assert run_pipeline(p, clock=clock).ok
    assert clock.waited == [300.0, 300.0]


@pytest.mark.parametrize(
    ("retry", "delays"),
    [
        (Retry.build(retries=4, delay=60, backoff=True), [60, 120, 240, 480]),
        (Retry.build(retries=4, delay="1m", backoff=True, max_delay="3m"), [60, 120, 180, 180]),
        (Retry.build(retries=2, delay="30s"), [30, 30]),
    ],
)
def test_retry_policy_delays(retry: Retry, delays: list[int]) -> None:
    assert [retry.delay_before(n) for n in range(1, retry.retries + 1)] == delays
