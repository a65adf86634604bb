"""The engine applies the retry policy, alerts on retry and on final failure, and honours circuit breakers."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from headwater import Pipeline, task
from headwater.engine.clock import FakeClock
from headwater.store.breakers import list_breakers, reset
from headwater.store.database import connect
from headwater.store.repository import Store
from headwater.testing import run_pipeline


def _alerts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "headwater.alerts"]


def test_a_retry_and_a_final_failure_alert_separately(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    @task(retries=1, retry_delay="1m")
    def flaky(ctx: object) -> None:
        calls.append(1)
        raise ConnectionError("source down")

    with Pipeline("alerting") as p:
        flaky()
    with caplog.at_level(logging.INFO, logger="headwater.alerts"):
        result = run_pipeline(p, clock=FakeClock())
    assert not result.ok and len(calls) == 2
    alerts = _alerts(caplog)
    assert [a.split("]")[0] for a in alerts] == ["[retry", "[failure"]
    assert "failed on try 1/2, retrying in 1m" in alerts[0]
    assert "no retries left (2 tries)" in alerts[1] and "ConnectionError: source down" in alerts[1]


def test_an_error_outside_retry_on_fails_at_once(caplog: pytest.LogCaptureFixture) -> None:
    @task(retries=3, retry_on=ConnectionError)
    def strict(ctx: object) -> None:
        raise ValueError("bad data")

    with Pipeline("strict") as p:
        strict()
    with caplog.at_level(logging.INFO, logger="headwater.alerts"):
        result = run_pipeline(p, clock=FakeClock())
    assert not result.ok and len(result.tries["strict"]) == 1
    assert "not retryable: ValueError is not in retry_on" in _alerts(caplog)[0]


def test_the_retry_budget_stops_retries_long_before_the_retry_count() -> None:
    @task(retries=50, retry_delay="1m", retry_budget="5m")
    def stubborn(ctx: object) -> None:
        raise TimeoutError("still down")

    with Pipeline("budget") as p:
        stubborn()
    clock = FakeClock()
    start = clock.now()
    result = run_pipeline(p, clock=clock)
    assert not result.ok
    assert len(result.tries["stubborn"]) < 10  # not 51 tries
    assert clock.now() - start <= 5 * 60  # the whole task stayed inside its budget
    assert "retry budget of 5m exhausted" in (result.summary.task("stubborn").error or "")


def test_jitter_keeps_every_delay_within_its_bounds() -> None:
    @task(retries=5, retry_delay="10s", retry_backoff=True, max_retry_delay="30s", retry_jitter=0.5)
    def jittery(ctx: object) -> None:
        raise ConnectionError("x")

    with Pipeline("jitter") as p:
        jittery()
    clock = FakeClock()
    run_pipeline(p, clock=clock)
    # Each wait is drawn from [d/2, d] with d = 10, 20, 30, 30, 30 seconds.
    waits = clock.waited
    assert len(waits) == 5
    for wait, full in zip(waits, (10, 20, 30, 30, 30), strict=True):
        assert full / 2 - 1e-6 <= wait <= full + 1e-6


def test_an_open_circuit_breaker_fails_fast_until_reset(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = f"sqlite:///{tmp_path / 'hw.db'}"
    calls: list[int] = []
    healthy = {"now": False}

    @task(circuit_breaker=2)
    def fragile(ctx: object) -> str:
        calls.append(1)
        if not healthy["now"]:
            raise ConnectionError("upstream API is down")
        return "ok"

    @task
    def after(value: str) -> str:
        return value

    with Pipeline("breaker") as p:
        after(fragile())

    with caplog.at_level(logging.INFO, logger="headwater.alerts"):
        for _ in range(2):
            assert not run_pipeline(p, db=db).ok
        assert len(calls) == 2
        assert any(a.startswith("[circuit_open]") for a in _alerts(caplog))

        third = run_pipeline(p, db=db)  # fails fast: the task does not run at all
    assert not third.ok and len(calls) == 2
    assert "circuit breaker open after 2 consecutive failed runs" in (third.summary.task("fragile").error or "")
    assert third.summary.task("after").state == "upstream_failed"

    store = Store(connect(db))
    try:
        assert [b.task_id for b in list_breakers(store, "breaker", only_open=True)] == ["fragile"]
        reset(store, "breaker", "fragile")
    finally:
        store.close()
    healthy["now"] = True
    assert run_pipeline(p, db=db).ok
    assert len(calls) == 3
